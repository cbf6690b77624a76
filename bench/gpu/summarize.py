#!/usr/bin/env python3
"""Decode roofline and the issue's ratios from the JSON files of one GPU run.

    python3 bench/gpu/summarize.py RESULTS_DIR MODEL_DIR

Reads bandwidth.json, pensieve_bench.json, pensieve_bench_0.json (MLX's path, when the decoder
ran in pensieve_bench.json), mlx_lm_bench.json, llama_bench.json (llama-bench -o json) and
server_bench.json (those present) and prints summary.json. Bytes one decode step must read: every weight except the embedding table
(a decode step gathers one of its rows) plus the keys and values of the whole context, at the
mean context length of the timed steps.
"""
import json
import statistics
import struct
import sys
from pathlib import Path


def tensor_bytes(model_dir: Path) -> dict[str, int]:
    sizes = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, meta in header.items():
            if name != "__metadata__":
                a, b = meta["data_offsets"]
                sizes[name] = b - a
    return sizes


def load(d: Path, name: str):
    p = d / name
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def main():
    res, model = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = json.loads((model / "config.json").read_text())
    sizes = tensor_bytes(model)
    embed = sum(v for k, v in sizes.items() if k.startswith("model.embed_tokens."))
    weights_file = sum(sizes.values())
    bw = load(res, "bandwidth.json")
    pen = load(res, "pensieve_bench.json")
    ref = load(res, "mlx_lm_bench.json")
    srv = load(res, "server_bench.json")
    out = {"model": str(model), "weight_bytes_file": weights_file, "embedding_bytes": embed}
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg["hidden_size"] // heads
    kv_per_token = 2 * cfg["num_hidden_layers"] * kv_heads * head_dim * 2  # float16 keys and values
    if pen:
        weights = pen["weight_bytes"] - embed if pen.get("weight_bytes") else weights_file - embed
        mean_ctx = pen["prompt_tokens"] + pen["generated_tokens"] / 2
        step_bytes = weights + kv_per_token * mean_ctx
        out.update({"weights_read_per_step": weights, "kv_bytes_per_token": kv_per_token,
                    "mean_context": mean_ctx, "bytes_per_decode_step": step_bytes,
                    "pensieve_decode_tokens_per_s": pen["decode_tokens_per_s"],
                    "pensieve_prefill_tokens_per_s": pen["prefill_tokens_per_s"]})
        if bw:
            gbps = bw["torch"]["GBps_median"] * 1e9
            out["copy_GBps"] = gbps / 1e9
            out["roofline_tokens_per_s"] = gbps / step_bytes
            out["pensieve_fraction_of_roofline"] = pen["decode_tokens_per_s"] / out["roofline_tokens_per_s"]
            out["pensieve_achieved_GBps"] = pen["decode_tokens_per_s"] * step_bytes / 1e9
        if ref:
            out["mlx_lm_decode_tokens_per_s"] = ref["decode_tokens_per_s"]
            out["mlx_lm_prefill_tokens_per_s"] = ref["prefill_tokens_per_s"]
            out["pensieve_over_mlx_lm_decode"] = pen["decode_tokens_per_s"] / ref["decode_tokens_per_s"]
            out["pensieve_over_mlx_lm_prefill"] = pen["prefill_tokens_per_s"] / ref["prefill_tokens_per_s"]
    # Pensieve's top-level figure is its best run; the median leaves out the first (warm-up) run.
    median = statistics.median(r["decode_tokens_per_s"] for r in pen["runs"][1:]) if pen and len(pen.get("runs", [])) > 1 else None
    if median:
        out["pensieve_decode_median_tokens_per_s"] = median
        if ref:
            out["pensieve_median_over_mlx_lm_decode"] = median / ref["decode_tokens_per_s"]
    mlx_path = load(res, "pensieve_bench_0.json")
    if pen and mlx_path:
        out["mlx_path_decode_tokens_per_s"] = mlx_path["decode_tokens_per_s"]
        out["pensieve_over_mlx_path_decode"] = pen["decode_tokens_per_s"] / mlx_path["decode_tokens_per_s"]
    llama = load(res, "llama_bench.json")
    if pen and llama:
        tg = [r["avg_ts"] for r in llama if r["n_prompt"] == 0 and r["n_gen"] > 0]
        pp = [r["avg_ts"] for r in llama if r["n_gen"] == 0 and r["n_prompt"] > 0]
        if tg:  # Pensieve's decode follows a 512-token prompt; llama-bench's tg starts from none
            out["llama_cpp_tg_tokens_per_s"] = tg[0]
            out["pensieve_over_llama_cpp_tg"] = pen["decode_tokens_per_s"] / tg[0]
            if median:  # llama-bench's avg_ts is a mean over its repetitions
                out["pensieve_median_over_llama_cpp_tg"] = median / tg[0]
        if pp:
            out["llama_cpp_pp_tokens_per_s"] = pp[0]
            out["pensieve_over_llama_cpp_pp"] = pen["prefill_tokens_per_s"] / pp[0]
    if srv:
        levels = {lv["concurrency"]: lv for lv in srv["levels"] if "errors" not in lv}
        out["server"] = {c: {k: lv.get(k) for k in ("end_to_end_tokens_per_s", "steady_decode_tokens_per_s",
                                                     "per_stream_decode_tokens_per_s")}
                         for c, lv in levels.items()}
        if 1 in levels and 32 in levels and levels[32].get("steady_decode_tokens_per_s"):
            b1 = levels[1]["per_stream_decode_tokens_per_s"]
            out["aggregate32_over_batch1_server"] = levels[32]["steady_decode_tokens_per_s"] / b1
            if pen:
                out["aggregate32_over_batch1_bench"] = levels[32]["steady_decode_tokens_per_s"] / pen["decode_tokens_per_s"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
