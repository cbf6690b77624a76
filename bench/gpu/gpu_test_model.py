#!/usr/bin/env python3
"""tools/make_test_model.py in two halves, so the random Hugging Face checkpoint (numpy, CPU only)
can be written before MLX is installed and the quantization runs later on the GPU.

    python3 bench/gpu/gpu_test_model.py hf WORK_DIR --preset phi3-mini-128k
    python3 bench/gpu/gpu_test_model.py convert WORK_DIR OUT_DIR --quant 4bit-g64

The output is what `make_test_model.py OUT_DIR --preset P --quant Q` writes (same seed, same
conversion, same final layout).
"""
import argparse
import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import make_test_model as m  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402


def _write_tensor(path, offset, name, shape, config, seed, token_count):
    data = m._to_bf16_bits(m._random_tensor(name, tuple(shape), config, seed, token_count)).tobytes()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def write_random_safetensors_parallel(path: Path, config: dict, seed: int, token_count: int) -> None:
    """Byte for byte what m.write_random_safetensors writes, one process per tensor in flight:
    each tensor is seeded by its name alone, so the order of generation does not matter."""
    shapes = m.hf_tensor_shapes(config)
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 2 * int(m.np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    base = 8 + len(header_bytes)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        f.truncate(base + offset)
    workers = min(12, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_write_tensor, str(path), base + header[n]["data_offsets"][0], n, s,
                               config, seed, token_count) for n, s in shapes.items()]
        for fut in futures:
            fut.result()


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    hf = sub.add_parser("hf")
    hf.add_argument("work", type=Path)
    hf.add_argument("--preset", choices=list(m.PRESETS), required=True)
    hf.add_argument("--seed", type=int, default=0)
    cv = sub.add_parser("convert")
    cv.add_argument("work", type=Path)
    cv.add_argument("out", type=Path)
    cv.add_argument("--quant", choices=list(m.QUANTS), default="4bit-g64")
    args = ap.parse_args()
    t0 = time.time()
    if args.cmd == "hf":
        config = m.make_config(args.preset)
        m.write_random_safetensors = write_random_safetensors_parallel
        m.write_hf_model(args.work / "hf", config, args.seed, m.TOKENIZER_DIR)
        (args.work / "hf.done").write_text("ok\n")
    else:
        q = m.QUANTS[args.quant]
        shutil.rmtree(args.work / "mlx", ignore_errors=True)
        m.convert(args.work / "hf", args.work / "mlx", q, None, None, None)
        m._finish_layout(args.work / "mlx", m.TOKENIZER_DIR)
        shutil.rmtree(args.out, ignore_errors=True)
        (args.work / "mlx").rename(args.out)
    print(f"{args.cmd} done in {time.time() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
