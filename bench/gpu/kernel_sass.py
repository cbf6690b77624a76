#!/usr/bin/env python3
"""Registers, spills and SASS instructions of CUDA kernels, on a machine without a GPU.

Compiles a headerless CUDA source (decoder_source.cpp prints the device decoder's) as the
decoder does, with NVRTC for one architecture: ptxas's report (through NVRTC) gives each
kernel's registers and spills, and, where `nvdisasm` is given, its instructions: the count by
opcode of the whole kernel and of its largest loop (the longest backward branch's span that no
unconditional EXIT or BRA interrupts: not a slow path's jump back from past the kernel's end).
What it cannot tell: how often each instruction runs, or stalls (ncu on the GPU: sass_mix.py).

NVRTC is the one `make test` installs into .venv (nvidia-cuda-nvrtc, MLX's CUDA 13 build's);
nvdisasm comes as a PyPI wheel, installed outside the repository:
  python3 -m pip install --no-deps --target /tmp/cudatools nvidia-cuda-nvdisasm==13.5.37
Usage: kernel_sass.py SOURCE.cu [--nvdisasm /tmp/cudatools/nvidia/cu13/bin/nvdisasm]
                     [--arch 90] [--kernel REGEX] [--json]
"""
import argparse
import collections
import ctypes
import glob
import json
import os
import re
import subprocess
import sys
import tempfile


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def venv_nvrtc():
    found = sorted(glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages", "nvidia", "cu13",
                                          "lib", "libnvrtc.so.13")))
    if not found:
        sys.exit("kernel_sass.py: no libnvrtc.so.13 under .venv (make setup installs it) and no --nvrtc")
    return found[0]


def nvrtc_compile(lib_path, source, arch):
    """(log, cubin) of source, compiled with the decoder's options (kernels/cuda_driver.cpp) and
    ptxas's resource report."""
    # NVRTC opens its builtins library by name: loaded first from beside it, it is found.
    for builtins in glob.glob(os.path.join(os.path.dirname(lib_path), "libnvrtc-builtins.so.*")):
        if ".alt." not in os.path.basename(builtins):
            ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(lib_path)
    prog = ctypes.c_void_p()
    if lib.nvrtcCreateProgram(ctypes.byref(prog), source, b"pensieve.cu", 0, None, None):
        sys.exit("kernel_sass.py: NVRTC cannot create the program")
    opts = (ctypes.c_char_p * 3)(f"--gpu-architecture=sm_{arch}".encode(), b"-std=c++17", b"--ptxas-options=-v")
    failed = lib.nvrtcCompileProgram(prog, 3, opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    log = log.value.decode(errors="replace")
    if failed:
        sys.exit("kernel_sass.py: NVRTC failed:\n" + log)
    lib.nvrtcGetCUBINSize(prog, ctypes.byref(size))
    cubin = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetCUBIN(prog, cubin)
    return log, cubin.raw[: size.value]


def ptxas_resources(log):
    """{kernel: {"registers": n, "spill_stores": bytes, "spill_loads": bytes}} from ptxas's report."""
    res, fn = {}, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            fn = m.group(1)
            res[fn] = {"registers": 0, "spill_stores": 0, "spill_loads": 0}
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and fn:
            res[fn]["spill_stores"], res[fn]["spill_loads"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m and fn:
            res[fn]["registers"] = int(m.group(1))
    return res


def opcode(instruction):
    words = instruction.split()
    if words and words[0].startswith("@"):  # a predicate guard
        words = words[1:]
    return words[0].split(".")[0] if words else "?"


def sass_by_kernel(nvdisasm, cubin_path):
    """{kernel: (instructions, labels)}: each instruction's text in order, labels at their index."""
    out = subprocess.run([nvdisasm, "-c", cubin_path], capture_output=True, text=True)
    if out.returncode:
        sys.exit("kernel_sass.py: nvdisasm failed:\n" + out.stderr)
    kernels = {}
    parts = re.split(r"\n\s*\.text\.(\w+):", out.stdout)
    for name, body in zip(parts[1::2], parts[2::2]):
        ins, labels = [], {}
        for line in body.splitlines():
            label = re.match(r"\s*(\.L_x_\d+):", line)
            if label:
                labels[label.group(1)] = len(ins)
                continue
            m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(.*?);", line)
            if m:
                ins.append(m.group(1))
        kernels[name] = (ins, labels)
    return kernels


def unconditional_exit(text):
    """An EXIT or a plain BRA with no predicate: control does not fall through it."""
    words = text.split()
    return bool(words) and words[0] in ("EXIT", "BRA")


def largest_loop(ins, labels):
    """The span [first, last] of the longest backward branch that closes a loop, or None. A
    branch back over an unconditional EXIT or BRA is not one: the compiler places slow paths (a
    division's, a divergent shuffle's) after the kernel's end and branches back from them."""
    best = None
    for j, text in enumerate(ins):
        m = re.search(r"BRA\s+`?\((\.L_x_\d+)\)", text)
        if m and labels.get(m.group(1), j + 1) <= j:
            first = labels[m.group(1)]
            if any(unconditional_exit(t) for t in ins[first:j]):
                continue
            if best is None or j - first > best[1] - best[0]:
                best = (first, j)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("--nvrtc", help="libnvrtc.so (default: the one in .venv)")
    ap.add_argument("--nvdisasm", help="nvdisasm binary: instructions by opcode as well")
    ap.add_argument("--arch", default="90", help="compute capability, as NVRTC takes it (90: H100, H200)")
    ap.add_argument("--kernel", default=".", help="only kernels whose names match this regular expression")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    log, cubin = nvrtc_compile(a.nvrtc or venv_nvrtc(), open(a.source, "rb").read(), a.arch)
    resources = ptxas_resources(log)
    sass = {name: ([], {}) for name in resources}
    if a.nvdisasm:
        with tempfile.TemporaryDirectory() as tmp:
            cubin_path = os.path.join(tmp, "k.cubin")
            open(cubin_path, "wb").write(cubin)
            sass = sass_by_kernel(a.nvdisasm, cubin_path)
    report = {}
    for name in sorted(sass):
        if not re.search(a.kernel, name):
            continue
        ins, labels = sass[name]
        entry = dict(resources.get(name, {}))
        if ins:
            entry["instructions"] = len(ins)
            entry["by_opcode"] = dict(collections.Counter(map(opcode, ins)).most_common())
        loop = largest_loop(ins, labels)
        if loop:
            body = ins[loop[0]: loop[1] + 1]
            entry["largest_loop"] = {"instructions": len(body),
                                     "by_opcode": dict(collections.Counter(map(opcode, body)).most_common())}
        report[name] = entry
    if a.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return
    for name, e in report.items():
        spills = f", spills {e['spill_stores']}/{e['spill_loads']} bytes" if e.get("spill_stores") else ""
        count = f", {e['instructions']} instructions" if "instructions" in e else ""
        print(f"{name}: {e.get('registers', '?')} registers{spills}{count}")
        if "largest_loop" in e:
            loop = e["largest_loop"]
            top = ", ".join(f"{op} {n}" for op, n in list(loop["by_opcode"].items())[:12])
            print(f"  largest loop {loop['instructions']}: {top}")


if __name__ == "__main__":
    main()
