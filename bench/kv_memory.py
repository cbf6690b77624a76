#!/usr/bin/env python3
"""Memory of long contexts per KV format: bytes a position, KV GiB and the measured peak RSS of
`pensieve bench --depth N` (a synthetic context of N positions, then -n tokens decoded) at 4k,
32k, 64k and 128k positions, written as JSON. Also the decode speed each run measured.

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
FORMATS = ((0, 0), (8, 32), (4, 32), (4, 96))  # (bits, group); 0 bits: float KV
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


def bench(binary, model, bits, group, depth, gen_tokens, timeout):
    cmd = [binary, "bench", "-m", str(model), "--json", "--depth", str(depth), "-p", "1", "-n", str(gen_tokens)]
    if bits:
        cmd += ["--kv-bits", str(bits), "--kv-group-size", str(group)]
    print("kv_memory: " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:]}
    return json.loads(proc.stdout)


def format_name(bits, group):
    return "float32" if bits == 0 else f"{bits}bit-g{group}"


def measure(binary, model, depths=DEPTHS, formats=FORMATS, gen_tokens=16, timeout=3600):
    # Bytes a position and the weights' size from one short run per format.
    rows = []
    for bits, group in formats:
        probe = bench(binary, model, bits, group, 0, 1, timeout)
        if "error" in probe:
            rows.append({"format": format_name(bits, group), "error": probe["error"]})
            continue
        per_position = probe["kv_bytes_per_token"]
        row = {"format": format_name(bits, group), "kv_bits": bits, "kv_group_size": group,
               "bits_per_value": bits + 32 / group if bits else (32 if probe["dtype"] == "float32" else 16),
               "bytes_per_position": per_position, "weight_gib": probe["weight_bytes"] / GIB, "depths": []}
        for depth in depths:
            kv = per_position * depth
            entry = {"depth": depth, "kv_gib": kv / GIB}
            need = kv + probe["weight_bytes"] + GIB
            if need > available_bytes():
                entry["not_run"] = f"needs about {need / GIB:.1f} GiB; {available_bytes() / GIB:.1f} GiB available"
            else:
                r = bench(binary, model, bits, group, depth, gen_tokens, timeout)
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
    ap.add_argument("--formats", default=",".join(f"{b}:{g}" for b, g in FORMATS), help="bits:group,…")
    ap.add_argument("--gen-tokens", type=int, default=16)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "kv_memory.json"))
    args = ap.parse_args()
    model = Path(args.model) if args.model else model_dir("phi3-mini-128k", "4bit-g64")
    formats = [tuple(int(x) for x in f.split(":")) for f in args.formats.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    result = measure(args.binary, model, depths, formats, args.gen_tokens, args.timeout)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
