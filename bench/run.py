#!/usr/bin/env python3
"""`make bench`: Pensieve against its references on the same model in one run, one JSON file.

Engine: `pensieve bench` and mlx-lm (native dtype and float32) on a random-weight Phi-3 built by
tools/make_test_model.py — the mid-size preset by default, the full Phi-3-mini-128k shapes with
--full. Tokenizer: Pensieve and Hugging Face `tokenizers` on the same text. Ratios are
Pensieve / reference. Optional: a llama.cpp `llama-bench` binary and GGUF built by hand outside
the repo (--llama-bench, --gguf).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_test_model  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")


def model_dir(preset, quant):
    out = ROOT / "bench" / ".models" / f"{preset}-{quant}"
    if not (out / "config.json").exists():
        print(f"bench: building {preset} {quant} model in {out}", file=sys.stderr)
        make_test_model.build(out, preset=preset, quant=quant)
    return out


def run_json(cmd, timeout):
    print("bench: " + " ".join(map(str, cmd)), file=sys.stderr)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:]}
    return json.loads(proc.stdout)


def engine_bench(args, preset, prompt_tokens, gen_tokens):
    model = model_dir(preset, "4bit-g64")
    size = ["-p", prompt_tokens, "-n", gen_tokens]
    res = {"model": {"preset": preset, "quant": "4bit-g64", "path": str(model)}}
    res["pensieve"] = run_json([args.binary, "bench", "-m", model, *size, "-r", args.repeats, "--json"], args.timeout)
    mlx_size = ["--prompt-tokens", prompt_tokens, "--gen-tokens", gen_tokens, "--repeats", args.repeats]
    res["mlx_lm_float32"] = run_json([PY, ROOT / "bench" / "mlx_lm_bench.py", model, "--float32", *mlx_size], args.timeout)
    if args.with_native_mlx:
        res["mlx_lm_native"] = run_json([PY, ROOT / "bench" / "mlx_lm_bench.py", model, *mlx_size], args.timeout)
    ratios = {}
    p = res["pensieve"]
    for ref in ("mlx_lm_float32", "mlx_lm_native"):
        r = res.get(ref, {})
        if "error" in p or not r or "error" in r:
            continue
        for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
            if r.get(key):
                ratios[f"{key}_vs_{ref}"] = p[key] / r[key]
        if r.get("peak_memory_bytes"):
            ratios[f"peak_memory_vs_{ref}"] = p["peak_memory_bytes"] / r["peak_memory_bytes"]
    res["ratios"] = ratios
    if args.llama_bench and args.gguf:
        res["llama_cpp"] = llama_bench(args)
    return res


def llama_bench(args):
    cmd = [args.llama_bench, "-m", args.gguf, "-p", str(args.prompt_tokens), "-n", str(args.gen_tokens),
           "-t", str(os.cpu_count()), "-o", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout)


def server_bench(args):
    model = model_dir("mid", "4bit-g64")
    out = Path(args.out) / "server.json"
    proc = subprocess.run([PY, ROOT / "bench" / "server_bench.py", "--model", model, "--binary", args.binary,
                           "--out", out, "--repeats", "1"], capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def kernels_bench(args):
    binary = Path(args.binary).parent / "pensieve_kernels_bench"
    if not binary.exists():
        return {"error": f"{binary} missing (cmake --build build --target pensieve_kernels_bench)"}
    proc = subprocess.run([str(binary), "3"], capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout)


def tokenizer_bench(args):
    script = ROOT / "bench" / "tokenizer_bench.py"
    if not script.exists():
        return {"error": "bench/tokenizer_bench.py missing"}
    out = ROOT / "bench" / "results" / "tokenizer.json"
    proc = subprocess.run([PY, script, "--binary", args.binary, "--out", out],
                          capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def kv_memory_bench(args):
    """Bytes a position, KV size and peak RSS per KV format at 4k-128k (bench/kv_memory.py)."""
    out = Path(args.out) / "kv_memory.json"
    proc = subprocess.run([PY, ROOT / "bench" / "kv_memory.py", "--binary", args.binary, "--out", out],
                          capture_output=True, text=True, timeout=args.timeout * 4)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def kv_quality_bench(args):
    """Logit difference of 8-bit and 4-bit KV caches against the float one (bench/kv_quality.py)."""
    out = Path(args.out) / "kv_quality.json"
    proc = subprocess.run([PY, ROOT / "bench" / "kv_quality.py", "--binary", args.binary, "--out", out],
                          capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=str(ROOT / "build" / "pensieve"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--full", action="store_true", help="also the full-size Phi-3-mini-128k shapes")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full-prompt-tokens", type=int, default=64)
    ap.add_argument("--full-gen-tokens", type=int, default=8)
    ap.add_argument("--with-native-mlx", action="store_true",
                    help="also mlx-lm in the checkpoint dtype (float16 is emulated on x86 CPUs: very slow)")
    ap.add_argument("--llama-bench", help="path of a llama-bench binary built outside the repo")
    ap.add_argument("--gguf", help="GGUF (Q4_0) of the same shapes for llama-bench")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--kv-quality", action="store_true", help="also bench/kv_quality.py (4k-token prompts)")
    ap.add_argument("--kv-memory", action="store_true", help="also bench/kv_memory.py (full size, 4k-128k contexts)")
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
              "tokenizer": tokenizer_bench(args),
              "kernels": kernels_bench(args),
              "engine": {"mid": engine_bench(args, "mid", args.prompt_tokens, args.gen_tokens)},
              "server": server_bench(args)}
    if args.full:
        # Shorter runs at full size: mlx-lm's CPU quantized matmul needs seconds per token there.
        result["engine"]["phi3-mini-128k"] = engine_bench(args, "phi3-mini-128k", args.full_prompt_tokens,
                                                          args.full_gen_tokens)
    if args.kv_quality:
        result["kv_quality"] = kv_quality_bench(args)
    if args.kv_memory:
        result["kv_memory"] = kv_memory_bench(args)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = json.dumps(result, indent=2)
    (out_dir / f"bench-{stamp}.json").write_text(text)
    (out_dir / "latest.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
