#!/usr/bin/env python3
"""Quality of the KV cache formats: last-position logits of Pensieve with float16 KV (the CPU's
default) and quantized KV (8-bit and 4-bit in groups of 32, 4-bit in groups of 96 = one Phi-3
head row) against a float32 KV cache over long prompts (4k tokens by default), written as JSON.

Model: a random-weight Phi-3 of tools/make_test_model.py — the mid preset with head_dim 96 as in
Phi-3-mini (so that groups of 96 apply) by default, or --model DIR (e.g. the full-size one). The
reference keeps keys and values in float32 (`--kv-dtype float32`, the activation dtype). Per prompt
and format: the largest absolute logit difference, the same relative to the largest |logit|,
the KL divergence of the quantized run's softmax from the float one's, and whether the top
token and the top-5 set agree.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_test_model  # noqa: E402


# The mid preset's size with Phi-3-mini's head_dim (96): 1536 / 16 heads.
HEAD_DIM_96 = {"hidden_size": 1536, "num_attention_heads": 16, "num_key_value_heads": 16}
FORMATS = ((0, 16), (8, 32), (4, 32), (4, 96))  # (bits, group); (0, 16): float16, unquantized


def model_dir(preset, quant):
    out = ROOT / "bench" / ".models" / f"{preset}-hd96-{quant}"
    if not (out / "config.json").exists():
        print(f"kv_quality: building {preset} {quant} model (head_dim 96) in {out}", file=sys.stderr)
        # Plain RoPE: the generated su factors are sized for the preset's own head_dim.
        make_test_model.build(out, preset=preset, quant=quant, overrides=HEAD_DIM_96, rope="none")
    return out


def format_name(bits, group):
    return f"kv{bits}-g{group}" if bits else "kv-float16"


def bits_per_value(bits, group):
    return bits + 32 / group if bits else 16  # quantized: a float16 scale and bias per group


def random_prompt(tokenizer, tokens, seed):
    """Text of about `tokens` tokens: decoded random ordinary vocabulary ids."""
    rng = random.Random(seed)
    ids = [rng.randrange(100, 32000) for _ in range(tokens)]
    text = tokenizer.decode(ids)
    while len(tokenizer.encode(text).ids) > tokens:
        text = text[: int(len(text) * 0.98)]
    return text


def last_logits(binary, model, prompt, bits, group, env):
    """bits 0: unquantized, float16 (group 16) or float32 (group 0)."""
    with tempfile.TemporaryDirectory() as tmp:
        prompt_file = Path(tmp) / "prompt.txt"
        prompt_file.write_text(prompt)
        out = Path(tmp) / "logits.json"
        cmd = [binary, "run", "-m", str(model), "--raw", "-n", "0", "--logits-out", str(out),
               "--prefill-chunk", "512"]
        if bits:
            cmd += ["--kv-bits", str(bits), "--kv-group-size", str(group)]
        else:
            cmd += ["--kv-dtype", "float16" if group == 16 else "float32"]
        with prompt_file.open() as stdin:
            proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, env=env, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        return np.array(json.loads(out.read_text()), dtype=np.float64)


def log_softmax(x):
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def compare(ref, got):
    lp, lq = log_softmax(ref), log_softmax(got)
    top5 = lambda v: set(np.argsort(v)[-5:].tolist())  # noqa: E731
    return {
        "max_abs_diff": float(np.max(np.abs(got - ref))),
        "relative_diff": float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))),
        "kl_divergence": float(np.sum(np.exp(lp) * (lp - lq))),
        "top1_agrees": bool(np.argmax(ref) == np.argmax(got)),
        "top5_overlap": len(top5(ref) & top5(got)),
    }


def measure(binary, preset="mid", quant="4bit-g64", tokens=4096, prompts=3, kernels=True, model=None,
            formats=FORMATS):
    name = str(model) if model else f"{preset} (head_dim 96) {quant}"
    model = Path(model) if model else model_dir(preset, quant)
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    env = dict(os.environ, PENSIEVE_CPU_KERNELS="1" if kernels else "0")
    runs = []
    for seed in range(prompts):
        prompt = random_prompt(tokenizer, tokens, seed)
        ref = last_logits(binary, model, prompt, 0, 0, env)
        entry = {"seed": seed, "prompt_tokens": len(tokenizer.encode(prompt).ids)}
        for bits, group in formats:
            entry[format_name(bits, group)] = compare(ref, last_logits(binary, model, prompt, bits, group, env))
        runs.append(entry)
    summary = {}
    for bits, group in formats:
        rows = [r[format_name(bits, group)] for r in runs]
        summary[format_name(bits, group)] = {
            "bits_per_value": bits_per_value(bits, group),
            "max_abs_diff": max(r["max_abs_diff"] for r in rows),
            "max_relative_diff": max(r["relative_diff"] for r in rows),
            "mean_kl_divergence": float(np.mean([r["kl_divergence"] for r in rows])),
            "top1_agreement": sum(r["top1_agrees"] for r in rows) / len(rows),
        }
    return {"model": name, "reference": "float32 KV cache", "cpu_kernels": kernels,
            "prompt_tokens": tokens, "summary": summary, "runs": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=str(ROOT / "build" / "pensieve"))
    ap.add_argument("--preset", default="mid")
    ap.add_argument("--quant", default="4bit-g64")
    ap.add_argument("--model", help="model directory instead of the generated preset (head_dim must be 96)")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--mlx-ops", action="store_true", help="PENSIEVE_CPU_KERNELS=0 (MLX's own ops)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "kv_quality.json"))
    args = ap.parse_args()
    result = measure(args.binary, args.preset, args.quant, args.tokens, args.prompts, not args.mlx_ops, args.model)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
