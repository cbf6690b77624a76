#!/usr/bin/env python3
"""mlx-lm's prefill and decode speed and peak memory on a model directory, as JSON.

The same measurement `pensieve bench` makes: a fixed pseudo-random prompt of ordinary vocabulary
ids, greedy decoding that ignores EOS, prefill speed = prompt tokens / time to the first token,
decode speed = (generated - 1) / time after the first token.
"""
import argparse
import json
import random
import resource
import time

import sys
from pathlib import Path

import mlx.core as mx
from mlx_lm import load
from mlx_lm.generate import generate_step

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from make_test_model import tokenizer_load_kwargs  # noqa: E402  (transformers 5 and rope "su")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--float32", action="store_true", help="run activations in float32")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    model, _ = load(args.model, tokenizer_config=tokenizer_load_kwargs())
    if args.float32:
        model.set_dtype(mx.float32)
    load_s = time.perf_counter() - t0
    rng = random.Random(1234)
    prompt = mx.array([rng.randint(100, 31999) for _ in range(args.prompt_tokens)])
    best_prefill = best_decode = 0.0
    for _ in range(args.repeats):
        start = time.perf_counter()
        first = None
        n = 0
        for _token, _ in generate_step(prompt, model, max_tokens=args.gen_tokens, prefill_step_size=512):
            n += 1
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        best_prefill = max(best_prefill, args.prompt_tokens / (first - start))
        if n > 1:
            best_decode = max(best_decode, (n - 1) / (end - first))
    print(json.dumps({
        "engine": "mlx-lm" + (" (float32)" if args.float32 else ""),
        "model": args.model,
        "prompt_tokens": args.prompt_tokens,
        "generated_tokens": args.gen_tokens,
        "load_seconds": load_s,
        "prefill_tokens_per_s": best_prefill,
        "decode_tokens_per_s": best_decode,
        "peak_memory_bytes": mx.get_peak_memory(),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }, indent=2))


if __name__ == "__main__":
    main()
