#!/usr/bin/env python3
"""Writes a random-weight Phi-3 GGUF (Q4_0) that llama.cpp's `phi3` architecture loads.

For comparing Pensieve with llama.cpp on the same shapes: the shapes come from the same config
tools/make_test_model.py builds the MLX model from (`make_config(preset)`), the tokenizer
metadata is copied from the real Phi-3 vocabulary GGUF in tests/fixtures/phi3-vocab.

    .venv/bin/python tools/make_test_gguf.py OUT.gguf --preset phi3-mini-128k

Linear and embedding tensors are Q4_0 (blocks of 32 weights: one float16 scale and 16 bytes of
4-bit codes) with random codes and small random scales written directly — nothing is quantized.
Q4_0 costs 4.5 bits a weight, as MLX 4-bit group 64 with float16 scales and biases does, so both
engines stream the same number of bytes per token. Norms are float32 ones; the LongRoPE factor
tensors hold the config's factors. The output head is Q4_0 too (llama-quantize's Q4_0 recipe
would make it Q6_K), for the same reason.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

import gguf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_test_model  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
VOCAB_GGUF = REPO_ROOT / "tests" / "fixtures" / "phi3-vocab" / "ggml-vocab-phi-3.gguf"

Q4_0 = gguf.GGMLQuantizationType.Q4_0
BLOCK_WEIGHTS, BLOCK_BYTES = gguf.GGML_QUANT_SIZES[Q4_0]  # 32 weights in 18 bytes
ARCH = gguf.MODEL_ARCH.PHI3


def tensor_name(kind: gguf.MODEL_TENSOR, block: int | None = None) -> str:
    return gguf.TENSOR_NAMES[kind].format(bid=block) + ".weight"


def tensor_plan(config: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape as rows × columns, "q4_0" or "f32") of every tensor, in file order."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = hidden // heads
    inter = config["intermediate_size"]
    vocab = config["vocab_size"]
    T = gguf.MODEL_TENSOR
    plan = [(tensor_name(T.TOKEN_EMBD), (vocab, hidden), "q4_0")]
    for i in range(config["num_hidden_layers"]):
        plan += [
            (tensor_name(T.ATTN_NORM, i), (hidden,), "f32"),
            (tensor_name(T.ATTN_QKV, i), ((heads + 2 * kv_heads) * head_dim, hidden), "q4_0"),
            (tensor_name(T.ATTN_OUT, i), (hidden, heads * head_dim), "q4_0"),
            (tensor_name(T.FFN_NORM, i), (hidden,), "f32"),
            # Gate and up fused, as in the checkpoint; llama.cpp splits the rows in half.
            (tensor_name(T.FFN_UP, i), (2 * inter, hidden), "q4_0"),
            (tensor_name(T.FFN_DOWN, i), (hidden, inter), "q4_0"),
        ]
    plan.append((tensor_name(T.OUTPUT_NORM), (hidden,), "f32"))
    if not config.get("tie_word_embeddings", False):
        plan.append((tensor_name(T.OUTPUT), (vocab, hidden), "q4_0"))
    rope = config.get("rope_scaling") or {}
    if rope.get("long_factor") and rope.get("short_factor"):
        plan.append((tensor_name(T.ROPE_FACTORS_LONG), (len(rope["long_factor"]),), "f32"))
        plan.append((tensor_name(T.ROPE_FACTORS_SHORT), (len(rope["short_factor"]),), "f32"))
    return plan


def q4_0_bytes(shape: tuple[int, int]) -> tuple[int, int]:
    """Byte shape (rows, bytes per row) of a Q4_0 matrix."""
    rows, cols = shape
    if cols % BLOCK_WEIGHTS:
        raise ValueError(f"Q4_0 rows need a multiple of {BLOCK_WEIGHTS} columns, got {cols}")
    return rows, cols // BLOCK_WEIGHTS * BLOCK_BYTES


def random_q4_0(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Random codes with float16 scales in [0.002, 0.01): weights within ±0.08."""
    rows, row_bytes = q4_0_bytes(shape)
    blocks = row_bytes // BLOCK_BYTES
    data = np.frombuffer(rng.bytes(rows * row_bytes), dtype=np.uint8).reshape(rows, blocks, BLOCK_BYTES).copy()
    scales = rng.uniform(0.002, 0.01, size=(rows, blocks)).astype("<f2")
    data[:, :, :2] = scales.view(np.uint8).reshape(rows, blocks, 2)
    return data.reshape(rows, row_bytes)


def float_tensor(name: str, shape: tuple[int, ...], config: dict) -> np.ndarray:
    rope = config.get("rope_scaling") or {}
    if name == tensor_name(gguf.MODEL_TENSOR.ROPE_FACTORS_LONG):
        return np.asarray(rope["long_factor"], dtype=np.float32)
    if name == tensor_name(gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT):
        return np.asarray(rope["short_factor"], dtype=np.float32)
    return np.ones(shape, dtype=np.float32)  # RMS norm weights


def add_hparams(writer: gguf.GGUFWriter, config: dict, name: str) -> None:
    """The keys llama.cpp's phi3 loader reads, as its Hugging Face converter writes them."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    rope_dims = int(config.get("partial_rotary_factor", 1.0) * hidden) // heads
    orig_ctx = config.get("original_max_position_embeddings", config["max_position_embeddings"])
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_rope_scaling_orig_ctx_len(orig_ctx)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_dimension_count(rope_dims)
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_sliding_window(config.get("sliding_window") or 0)
    rope = config.get("rope_scaling") or {}
    scale = config["max_position_embeddings"] / orig_ctx
    if rope.get("type") in ("su", "longrope") and scale > 1.0:
        # LongRoPE's attention scaling, as Phi-3's modelling code computes it.
        writer.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(orig_ctx)))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def copy_tokenizer_metadata(writer: gguf.GGUFWriter, vocab_path: Path) -> None:
    """Every tokenizer.* key of the vocabulary GGUF, byte for byte (strings are not re-decoded)."""
    reader = gguf.GGUFReader(vocab_path)
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = gguf.GGUFValueType(field.types[0])
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = gguf.GGUFValueType(field.types[-1])
            if sub == gguf.GGUFValueType.STRING:
                values = [bytes(field.parts[i]) for i in field.data]
            else:
                values = field.contents()
            writer.add_key_value(key, values, vtype, sub_type=sub)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[field.data[0]]), vtype)
        else:
            writer.add_key_value(key, field.contents(), vtype)


def build(out: Path, preset: str = "phi3-mini-128k", seed: int = 0, vocab_path: Path = VOCAB_GGUF) -> Path:
    """Writes the GGUF to `out`, one tensor in memory at a time."""
    config = make_test_model.make_config(preset)
    plan = tensor_plan(config)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[ARCH])
    add_hparams(writer, config, f"Phi-3 random weights ({preset})")
    copy_tokenizer_metadata(writer, vocab_path)
    for name, shape, kind in plan:
        if kind == "q4_0":
            byte_shape = q4_0_bytes(shape)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), byte_shape[0] * byte_shape[1],
                                   raw_dtype=Q4_0)
        else:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), 4 * math.prod(shape))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for name, shape, kind in plan:
        writer.write_tensor_data(random_q4_0(shape, rng) if kind == "q4_0" else float_tensor(name, shape, config))
    writer.close()
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the .gguf file to write")
    parser.add_argument("--preset", choices=list(make_test_model.PRESETS), default="phi3-mini-128k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build(args.out, args.preset, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
