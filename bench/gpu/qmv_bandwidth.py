#!/usr/bin/env python3
"""How fast MLX's own quantized matmul streams Phi-3-mini's 4-bit weights on this device, as JSON.

One "step" = the 32 layers' four matmuls (qkv, o, gate_up, down) plus lm_head on M rows, each on
its own weight copy (as in a real decode step, nothing stays in the 50 MB L2), all evaluated in
one mx.eval: the time is the kernels' own plus MLX's per-op scheduling, without the rest of the
model. GB/s counts the quantized weights (codes, scales, biases) read once per step.
"""
import json
import statistics
import time

import mlx.core as mx

SHAPES = [(9216, 3072), (3072, 3072), (16384, 3072), (3072, 8192)]  # (out, in) per layer
LM_HEAD = (32064, 3072)
LAYERS = 32


def make(out_f, in_f):
    w = mx.random.normal((out_f, in_f), dtype=mx.float16) * (in_f ** -0.5)
    q, s, b = mx.quantize(w, group_size=64, bits=4)
    mx.eval(q, s, b)
    return q, s, b


def main():
    mx.random.seed(0)
    weights = [make(*shape) for _ in range(LAYERS) for shape in SHAPES] + [make(*LM_HEAD)]
    nbytes = sum(q.nbytes + s.nbytes + b.nbytes for q, s, b in weights)
    out = {"mlx_version": mx.__version__, "device": str(mx.default_device()), "weight_bytes": nbytes,
           "runs": []}
    for m in (1, 8, 32):
        xs = {k: mx.random.normal((m, k), dtype=mx.float16) for k in (3072, 8192)}
        mx.eval(list(xs.values()))

        def step():
            ys = [mx.quantized_matmul(xs[q.shape[1] * 8], q, s, b, transpose=True, group_size=64, bits=4)
                  for q, s, b in weights]
            mx.eval(ys)

        for _ in range(3):
            step()
        times = []
        for _ in range(20):
            mx.synchronize()
            t0 = time.perf_counter()
            step()
            mx.synchronize()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out["runs"].append({"M": m, "step_ms": med * 1e3, "best_ms": min(times) * 1e3,
                            "weight_GBps": nbytes / med / 1e9, "matmuls": len(weights)})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
