#!/usr/bin/env python3
"""Builds Phi-3 models with random weights, laid out exactly like the MLX Hub repositories.

The tests cannot reach the Hugging Face Hub, so they need models that look like
`mlx-community/Phi-3-mini-128k-instruct-4bit` without its trained weights. This tool writes a
Hugging Face layout Phi-3 (config.json, model.safetensors, the real Phi-3 tokenizer files,
generation_config.json) with seeded random weights, then runs mlx-lm's own conversion on it, so
the output is whatever mlx-lm writes for a real checkpoint: quantized or not, one file or shards.

    .venv/bin/python tools/make_test_model.py OUT_DIR --preset tiny --quant 4bit-g64

Also importable: `build(out_dir, preset="tiny", quant="4bit-g64", ...)`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKENIZER_DIR = REPO_ROOT / "tests" / "fixtures" / "phi3-tokenizer"
FULL_CONFIG_PATH = REPO_ROOT / "tests" / "fixtures" / "phi3-mini-128k-config" / "config.json"

# Tokenizer files of the Hub repository, copied verbatim when the fixture folder has them.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "tokenizer.model")

# As in microsoft/Phi-3-mini-128k-instruct: the chat turn ends with <|end|> (32007), so generation
# stops on any of the three.
GENERATION_CONFIG = {
    "_from_model_config": True,
    "bos_token_id": 1,
    "eos_token_id": [32000, 32001, 32007],
    "pad_token_id": 32000,
    "transformers_version": "4.40.2",
}

# Shapes only; everything else (rope theta, eps, special ids, ...) comes from the real config.
PRESETS = {
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, intermediate_size=256),
    "tiny-gqa": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, intermediate_size=256),
    "mid": dict(hidden_size=1024, num_hidden_layers=8, num_attention_heads=16,
                num_key_value_heads=16, intermediate_size=2816),
    "phi3-mini-128k": {},  # the shapes of the real model, unchanged
}


@dataclass(frozen=True)
class Quant:
    """One conversion mlx-lm can make: affine quantization (bits, group) or a plain dtype."""
    dtype: str
    bits: int | None = None
    group_size: int | None = None


QUANTS = {
    # mlx-lm of the time the Hub repositories were converted cast quantized models to float16
    # first, so their scales, biases and norms are float16.
    "4bit-g64": Quant("float16", 4, 64),
    "4bit-g32": Quant("float16", 4, 32),
    "8bit": Quant("float16", 8, 64),
    "bf16": Quant("bfloat16"),
    "fp16": Quant("float16"),
    "fp32": Quant("float32"),
}

QUANT_PREDICATES = ("mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6")
ROPE_KINDS = ("su", "longrope", "linear", "none")


# ---------------------------------------------------------------------------------------------
# Configuration


def real_config() -> dict:
    """The config of the real MLX 4-bit Phi-3-mini-128k, without its quantization entries."""
    config = json.loads(FULL_CONFIG_PATH.read_text())
    config.pop("quantization", None)
    config.pop("quantization_config", None)
    return config


def _resample(values: list[float], n: int) -> list[float]:
    """The real factor curve stretched or squeezed to n points (keeps its shape for tiny heads)."""
    if n == len(values):
        return list(values)
    src = np.linspace(0.0, 1.0, len(values))
    return [float(v) for v in np.interp(np.linspace(0.0, 1.0, n), src, values)]


def rope_scaling(kind: str, rope_dim: int, equal_factors: bool, real: dict) -> dict | None:
    """rope_scaling for `kind`; factor lists have one entry per rotated pair (rope_dim / 2)."""
    if kind == "none":
        return None
    n = rope_dim // 2
    long_factor = _resample(real["long_factor"], n)
    # mlx-lm always applies the long factors; equal lists make its output comparable.
    short_factor = list(long_factor) if equal_factors else _resample(real["short_factor"], n)
    if kind in ("su", "longrope"):
        return {"long_factor": long_factor, "short_factor": short_factor, "type": kind}
    if kind == "linear":
        # mlx-lm's phi3 loader insists on a long_factor key whatever the type; it is unused here.
        return {"factor": 2.0, "long_factor": [1.0] * n, "type": "linear"}
    raise ValueError(f"unknown rope kind {kind!r} (choose from {', '.join(ROPE_KINDS)})")


def _set_path(config: dict, dotted_key: str, value) -> None:
    """`a.b=v` sets config["a"]["b"]; a JSON null removes the key."""
    *parents, leaf = dotted_key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value


def make_config(preset: str = "tiny", rope: str = "su", equal_rope_factors: bool = False,
                partial_rotary_factor: float | None = None, tie_embeddings: bool = False,
                overrides: dict | None = None) -> dict:
    """The Hugging Face config.json of a preset; pure, so tests can check shapes cheaply."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    config = real_config()
    real_rope = config["rope_scaling"]
    config.update(PRESETS[preset])
    config["tie_word_embeddings"] = bool(tie_embeddings)
    if partial_rotary_factor is not None:
        config["partial_rotary_factor"] = float(partial_rotary_factor)
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    rope_dim = int(head_dim * config.get("partial_rotary_factor", 1.0))
    config["rope_scaling"] = rope_scaling(rope, rope_dim, equal_rope_factors, real_rope)
    for key, value in (overrides or {}).items():
        _set_path(config, key, value)
    return config


def hf_tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of a Hugging Face Phi3ForCausalLM, in checkpoint order."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = hidden // heads
    inter = config["intermediate_size"]
    vocab = config["vocab_size"]
    shapes = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes[p + "self_attn.qkv_proj.weight"] = ((heads + 2 * kv_heads) * head_dim, hidden)
        shapes[p + "self_attn.o_proj.weight"] = (hidden, heads * head_dim)
        shapes[p + "mlp.gate_up_proj.weight"] = (2 * inter, hidden)
        shapes[p + "mlp.down_proj.weight"] = (hidden, inter)
        shapes[p + "input_layernorm.weight"] = (hidden,)
        shapes[p + "post_attention_layernorm.weight"] = (hidden,)
    shapes["model.norm.weight"] = (hidden,)
    if not config.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, hidden)
    return shapes


# ---------------------------------------------------------------------------------------------
# Random weights, streamed into a safetensors file one tensor at a time


LOGIT_STD = 6.0


def _random_tensor(name: str, shape: tuple[int, ...], config: dict, seed: int,
                   token_count: int) -> np.ndarray:
    """Seeded by (seed, name) so a tensor does not depend on what was generated before it.

    Scales are chosen so that every block adds a unit-scale update to the residual stream and
    logits spread over about ±30: greedy generation then wanders over many tokens instead of
    repeating one, and the winning logit usually clears the runner-up by far more than float
    noise or quantization error.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    tied = config.get("tie_word_embeddings", False)
    if name.endswith("norm.weight"):
        # Near 1 but not exactly, so a runtime that ignores a norm weight gives other output.
        out = 1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
        if tied and name == "model.norm.weight":
            # A tied head scores the residual against the embeddings, and the residual holds the
            # input token's own embedding: with positive weights here that token scores high and
            # greedy output repeats it. Random signs make that self-score average out to zero.
            out *= rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=shape)
        return out
    fan_in = shape[1]
    out = rng.standard_normal(shape, dtype=np.float32)
    if name == "lm_head.weight" or (tied and name == "model.embed_tokens.weight"):
        # Rows of unequal norm, as in trained models: the top logit then stands further above
        # the rest than the maximum of equal Gaussians would (about half the near-ties), while
        # leaving hundreds of tokens a chance to win.
        out *= np.exp(0.3 * rng.standard_normal((shape[0], 1), dtype=np.float32))
        out *= np.float32(LOGIT_STD / np.sqrt(fan_in))  # its input has unit scale
        # Rows past the tokenizer's last id only pad the matrix to 32064; the real model
        # never predicts them (they decode to nothing), and a zero row scores 0, far below
        # the winner.
        out[token_count:] = 0.0
    elif name == "model.embed_tokens.weight":
        out[token_count:] = 0.0
    else:
        out *= np.float32(1.0 / np.sqrt(fan_in))  # unit-scale outputs for unit-scale inputs
    return out


def _to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bit patterns, rounding to nearest even (numpy has no bfloat16)."""
    bits = x.view(np.uint32)
    bits = bits + (np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))
    return (bits >> 16).astype(np.uint16)


def write_random_safetensors(path: Path, config: dict, seed: int, token_count: int) -> None:
    """bfloat16 checkpoint like the real one; holds one tensor in memory at a time."""
    shapes = hf_tensor_shapes(config)
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for name, shape in shapes.items():
            f.write(_to_bf16_bits(_random_tensor(name, shape, config, seed, token_count)).tobytes())


def write_hf_model(hf_dir: Path, config: dict, seed: int, tokenizer_dir: Path) -> None:
    """A Hugging Face model folder mlx_lm.convert accepts as its source."""
    hf_dir.mkdir(parents=True, exist_ok=True)
    (hf_dir / "config.json").write_text(json.dumps(config, indent=2))
    (hf_dir / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2))
    _copy_tokenizer(tokenizer_dir, hf_dir)
    write_random_safetensors(hf_dir / "model.safetensors", config, seed,
                             tokenizer_token_count(tokenizer_dir))


def tokenizer_token_count(tokenizer_dir: Path) -> int:
    """One past the highest id the tokenizer knows (32011 for Phi-3; the model pads to 32064)."""
    spec = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    ids = list(spec["model"]["vocab"].values()) if isinstance(spec["model"]["vocab"], dict) \
        else list(range(len(spec["model"]["vocab"])))
    ids += [token["id"] for token in spec.get("added_tokens", [])]
    return max(ids) + 1


def _copy_tokenizer(tokenizer_dir: Path, dst: Path) -> None:
    if not (tokenizer_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no Phi-3 tokenizer fixture at {tokenizer_dir}")
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copyfile(tokenizer_dir / name, dst / name)


# ---------------------------------------------------------------------------------------------
# Conversion through mlx-lm


def _split_into(weights: dict, count: int) -> list[dict]:
    """`count` consecutive, non-empty groups of about equal bytes, in mlx-lm's tensor order."""
    items = list(weights.items())
    count = max(1, min(count, len(items)))
    total = sum(v.nbytes for _, v in items)
    shards: list[dict] = [{}]
    done = 0
    for i, (name, value) in enumerate(items):
        left_items = len(items) - i
        left_shards = count - len(shards)
        full = done >= len(shards) * total / count
        if shards[-1] and left_shards > 0 and (full or left_items <= left_shards):
            shards.append({})
        shards[-1][name] = value
        done += value.nbytes
    return shards


@contextlib.contextmanager
def _mlx_shard_count(count: int | None):
    """mlx-lm cannot cut shards below 1 GiB; swap in a splitter so its own writer names the
    files and writes the index as it would for a big model."""
    if not count or count <= 1:
        yield
        return
    import mlx_lm.utils as mlx_utils
    original = mlx_utils.make_shards
    mlx_utils.make_shards = lambda weights, *args, **kwargs: _split_into(weights, count)
    try:
        yield
    finally:
        mlx_utils.make_shards = original


def tokenizer_load_kwargs() -> dict:
    """Extra AutoTokenizer arguments that let mlx-lm load a Phi-3 128k repository.

    transformers 5 rejects the rope type "su" of the real Phi-3 128k config.json (a KeyError about
    original_max_position_embeddings), and AutoTokenizer reads config.json only to guess the
    tokenizer class, which tokenizer_config.json names anyway. A blank config skips that read:
    `mlx_lm.load(path, tokenizer_config=tokenizer_load_kwargs())`.
    """
    from transformers import PretrainedConfig
    return {"config": PretrainedConfig()}


@contextlib.contextmanager
def _mlx_tokenizer_tolerates_su_rope():
    """mlx_lm.convert gives no way to pass tokenizer arguments; wrap its loader instead."""
    import mlx_lm.utils as mlx_utils
    original = mlx_utils.load_tokenizer

    def load_tokenizer(model_path, tokenizer_config_extra=None, **kwargs):
        extra = {**tokenizer_load_kwargs(), **(tokenizer_config_extra or {})}
        return original(model_path, extra, **kwargs)

    mlx_utils.load_tokenizer = load_tokenizer
    try:
        yield
    finally:
        mlx_utils.load_tokenizer = original


def convert(hf_dir: Path, mlx_dir: Path, quant: Quant, quant_predicate: str | None,
            shards: int | None, dtype: str | None) -> None:
    from mlx_lm import convert as mlx_convert

    with _mlx_shard_count(shards), _mlx_tokenizer_tolerates_su_rope():
        mlx_convert(str(hf_dir), str(mlx_dir), quantize=quant.bits is not None,
                    q_group_size=quant.group_size, q_bits=quant.bits,
                    dtype=dtype or quant.dtype, quant_predicate=quant_predicate)


def _finish_layout(mlx_dir: Path, tokenizer_dir: Path) -> None:
    """Leave only what the Hub repository holds, with its tokenizer files byte for byte.

    The tokenizer that mlx-lm re-saves through transformers differs in form from the Hub files
    (and may add chat_template.jinja), so the fixture's files replace it.
    """
    keep = {"config.json", "generation_config.json", "model.safetensors.index.json",
            *TOKENIZER_FILES}
    for path in mlx_dir.iterdir():
        is_weights = path.name.startswith("model") and path.name.endswith(".safetensors")
        if path.name not in keep and not is_weights:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for name in TOKENIZER_FILES:
        (mlx_dir / name).unlink(missing_ok=True)
    _copy_tokenizer(tokenizer_dir, mlx_dir)
    if not (mlx_dir / "generation_config.json").exists():
        (mlx_dir / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2))


def _move_into_place(built: Path, out_dir: Path, overwrite: bool) -> None:
    """Atomic for readers: out_dir is either absent, the old model or the complete new one."""
    try:
        os.rename(built, out_dir)
        return
    except OSError:
        if not out_dir.exists():
            raise
    if not overwrite:
        shutil.rmtree(built)  # someone else finished the same build first
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rename(out_dir, trash / "model")
    os.rename(built, out_dir)
    shutil.rmtree(trash)


def build(out_dir, preset: str = "tiny", quant: str = "4bit-g64", *, seed: int = 0,
          shards: int | None = None, tie_embeddings: bool = False, rope: str = "su",
          equal_rope_factors: bool = False, partial_rotary_factor: float | None = None,
          overrides: dict | None = None, quant_predicate: str | None = None,
          dtype: str | None = None, tokenizer_dir=None, overwrite: bool = True,
          quiet: bool = False) -> Path:
    """Builds the model into out_dir (replaced when overwrite, else kept if present).

    overrides: config keys (dotted for nested ones) set last, on the Hugging Face config.
    quant_predicate: one of mlx-lm's mixed recipes (QUANT_PREDICATES); quantized quants only.
    dtype: the dtype mlx-lm casts to before quantizing; defaults to the quant's own.
    """
    out_dir = Path(out_dir).resolve()
    if quant not in QUANTS:
        raise ValueError(f"unknown quant {quant!r} (choose from {', '.join(QUANTS)})")
    q = QUANTS[quant]
    if quant_predicate is not None and q.bits is None:
        raise ValueError("--quant-predicate needs a quantized --quant")
    if quant_predicate is not None and quant_predicate not in QUANT_PREDICATES:
        raise ValueError(f"unknown quant predicate {quant_predicate!r}")
    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else TOKENIZER_DIR
    config = make_config(preset, rope, equal_rope_factors, partial_rotary_factor,
                         tie_embeddings, overrides)
    if not overwrite and out_dir.exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        write_hf_model(work / "hf", config, seed, tokenizer_dir)
        log = io.StringIO() if quiet else sys.stdout
        with contextlib.redirect_stdout(log):
            convert(work / "hf", work / "mlx", q, quant_predicate, shards, dtype)
        _finish_layout(work / "mlx", tokenizer_dir)
        _move_into_place(work / "mlx", out_dir, overwrite)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


# ---------------------------------------------------------------------------------------------
# Command line


def _parse_set(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--set expects key=json, got {item!r}")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw  # a bare word is a string
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--preset", choices=list(PRESETS), default="tiny")
    parser.add_argument("--quant", choices=list(QUANTS), default="4bit-g64")
    parser.add_argument("--quant-predicate", choices=QUANT_PREDICATES,
                        help="mlx-lm mixed-bit recipe (per-layer quantization)")
    parser.add_argument("--dtype", choices=["float16", "bfloat16", "float32"],
                        help="dtype to cast to before quantizing (default: the quant's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shards", type=int, help="write the weights as N shard files")
    parser.add_argument("--tie-embeddings", action="store_true")
    parser.add_argument("--rope", choices=ROPE_KINDS, default="su")
    parser.add_argument("--equal-rope-factors", action="store_true",
                        help="short_factor == long_factor (mlx-lm uses only the long ones)")
    parser.add_argument("--partial-rotary-factor", type=float)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override a config key (dotted for nested keys; null removes it)")
    parser.add_argument("--tokenizer-dir", type=Path, help=f"default: {TOKENIZER_DIR}")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        overrides = _parse_set(args.set)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    out = build(args.out_dir, args.preset, args.quant, seed=args.seed, shards=args.shards,
                tie_embeddings=args.tie_embeddings, rope=args.rope,
                equal_rope_factors=args.equal_rope_factors,
                partial_rotary_factor=args.partial_rotary_factor, overrides=overrides,
                quant_predicate=args.quant_predicate, dtype=args.dtype,
                tokenizer_dir=args.tokenizer_dir, quiet=args.quiet)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
