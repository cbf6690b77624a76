#!/usr/bin/env python3
"""Memory of long contexts per KV format: bytes a position, KV GiB and the measured peak RSS of
`pensieve bench --depth N` (a synthetic context of N positions, then -n tokens decoded) at 4k,
32k, 64k and 128k positions, written as JSON. Also the decode speed each run measured. Formats:
unquantized float32 or float16 (`--kv-dtype`; float16 is the CPU's default) and quantized.

A run that would not fit in this machine's available memory (KV + weights + 1 GiB) is listed with
the memory it would need instead of being run. Model: the full-size Phi-3-mini shapes
(tools/make_test_model.py's phi3-mini-128k preset, random weights) unless --model DIR.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_test_model  # noqa: E402

GIB = 1 << 30
# (bits, group, unquantized dtype); 0 bits: float KV of that dtype
FORMATS = ((0, 0, "float32"), (0, 0, "float16"), (8, 32, None), (4, 32, None), (4, 96, None))
BITS = {"float32": 32, "float16": 16}
DEPTHS = (4096, 32768, 65536, 131072)


def model_dir(preset, quant):
    out = ROOT / "bench" / ".models" / f"{preset}-{quant}"
    if not (out / "config.json").exists():
        print(f"kv_memory: building {preset} {quant} model in {out}", file=sys.stderr)
        make_test_model.build(out, preset=preset, quant=quant)
    return out


def available_bytes():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def bench(binary, model, fmt, depth, gen_tokens, timeout):
    bits, group, dtype = fmt
    cmd = [binary, "bench", "-m", str(model), "--json", "--depth", str(depth), "-p", "1", "-n", str(gen_tokens)]
    if bits:
        cmd += ["--kv-bits", str(bits), "--kv-group-size", str(group)]
    else:
        cmd += ["--kv-dtype", dtype]
    print("kv_memory: " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:]}
    return json.loads(proc.stdout)


def format_name(fmt):
    bits, group, dtype = fmt
    return dtype if bits == 0 else f"{bits}bit-g{group}"


def parse_format(text):
    """float32, float16 or bits:group."""
    if text in BITS:
        return (0, 0, text)
    bits, group = (int(x) for x in text.split(":"))
    return (bits, group, None)


def measure(binary, model, depths=DEPTHS, formats=FORMATS, gen_tokens=16, timeout=3600):
    # Bytes a position and the weights' size from one short run per format.
    rows = []
    for fmt in formats:
        bits, group, _ = fmt
        probe = bench(binary, model, fmt, 0, 1, timeout)
        if "error" in probe:
            rows.append({"format": format_name(fmt), "error": probe["error"]})
            continue
        per_position = probe["kv_bytes_per_token"]
        row = {"format": format_name(fmt), "kv_bits": bits, "kv_group_size": group,
               "bits_per_value": bits + 32 / group if bits else BITS[probe["kv_dtype"]],
               "bytes_per_position": per_position, "weight_gib": probe["weight_bytes"] / GIB, "depths": []}
        for depth in depths:
            kv = per_position * depth
            entry = {"depth": depth, "kv_gib": kv / GIB}
            need = kv + probe["weight_bytes"] + GIB
            if need > available_bytes():
                entry["not_run"] = f"needs about {need / GIB:.1f} GiB; {available_bytes() / GIB:.1f} GiB available"
            else:
                r = bench(binary, model, fmt, depth, gen_tokens, timeout)
                if "error" in r:
                    entry["error"] = r["error"]
                else:
                    entry.update({
                        "peak_rss_gib": r["peak_rss_bytes"] / GIB,
                        "peak_mlx_gib": r["peak_memory_bytes"] / GIB,
                        # What the process holds beyond its weights and KV storage at its peak.
                        "overhead_gib": (r["peak_rss_bytes"] - r["kv_bytes"] - r["weight_bytes"]) / GIB,
                        "decode_tokens_per_s": r["decode_tokens_per_s"],
                    })
            row["depths"].append(entry)
        rows.append(row)
    return {"model": str(model), "generated_tokens": gen_tokens, "formats": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=str(ROOT / "build" / "pensieve"))
    ap.add_argument("--model", help="model directory (default: a generated full-size Phi-3-mini)")
    ap.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    ap.add_argument("--formats", default=",".join(format_name(f) if f[0] == 0 else f"{f[0]}:{f[1]}" for f in FORMATS),
                    help="float32, float16 or bits:group, comma-separated")
    ap.add_argument("--gen-tokens", type=int, default=16)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "kv_memory.json"))
    args = ap.parse_args()
    model = Path(args.model) if args.model else model_dir("phi3-mini-128k", "4bit-g64")
    formats = [parse_format(f) for f in args.formats.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    result = measure(args.binary, model, depths, formats, args.gen_tokens, args.timeout)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
