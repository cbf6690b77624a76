#!/usr/bin/env python3
"""Device-to-device copy bandwidth (bytes read + bytes written per second), as JSON.

Through PyTorch (CUDA events around each copy, median of many) and, when importable, through
MLX's CUDA backend (an elementwise copy of a buffer; wall clock around synchronised repeats).
The buffers are 2 GiB, far past the 50 MB L2, and filled with random data.
"""
import json
import statistics
import time

NBYTES = 2 << 30


def torch_copy(repeats: int = 30) -> dict:
    import torch
    n = NBYTES // 4
    src = torch.randn(n, device="cuda", dtype=torch.float32)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        dst.copy_(src)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    assert torch.equal(dst[:1024], src[:1024])
    med = statistics.median(times)
    return {"bytes_moved": 2 * NBYTES, "median_s": med, "best_s": min(times),
            "GBps_median": 2 * NBYTES / med / 1e9, "GBps_best": 2 * NBYTES / min(times) / 1e9,
            "device": torch.cuda.get_device_name(0)}


def mlx_copy(repeats: int = 20) -> dict:
    import mlx.core as mx
    n = NBYTES // 4
    src = mx.random.normal((n,), dtype=mx.float32)
    mx.eval(src)
    times = []
    for i in range(repeats + 3):
        mx.synchronize()
        t0 = time.perf_counter()
        dst = mx.negative(src)  # one read and one write of every element
        mx.eval(dst)
        mx.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
        del dst
    med = statistics.median(times)
    return {"bytes_moved": 2 * NBYTES, "median_s": med, "best_s": min(times),
            "GBps_median": 2 * NBYTES / med / 1e9, "GBps_best": 2 * NBYTES / min(times) / 1e9,
            "mlx_version": mx.__version__, "mlx_device": str(mx.default_device())}


def main():
    out = {"torch": torch_copy()}
    try:
        out["mlx"] = mlx_copy()
    except Exception as e:  # noqa: BLE001 - report and keep the torch figure
        out["mlx_error"] = repr(e)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
