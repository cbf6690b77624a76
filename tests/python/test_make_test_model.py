"""The random-weight test models: mlx-lm loads and runs them, and their files have the layout of
mlx-community/Phi-3-mini-128k-instruct-4bit (and of mlx-lm's other conversions).

Expectations come from the real model's config (tests/fixtures/phi3-mini-128k-config), from the
public architecture of Phi-3 and from mlx-lm's loader, never from the generator itself.
"""
from __future__ import annotations

import json
import struct

import pytest

import models

gen = models.generator
FIXTURE_CONFIG = json.loads(gen.FULL_CONFIG_PATH.read_text())
HUB_FILES = {"config.json", "generation_config.json", "model.safetensors.index.json",
             "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
PROMPT = "The quick brown fox"

# name → (build options, bits, group size, dtype of scales/norms in the safetensors files)
VARIANTS = {
    "4bit-g64": (dict(quant="4bit-g64"), 4, 64, "F16"),
    "4bit-g32": (dict(quant="4bit-g32"), 4, 32, "F16"),
    "8bit": (dict(quant="8bit"), 8, 64, "F16"),
    "bf16": (dict(quant="bf16"), None, None, "BF16"),
    "fp16": (dict(quant="fp16"), None, None, "F16"),
    "fp32": (dict(quant="fp32"), None, None, "F32"),
}


def safetensors_header(path) -> dict:
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size))


def all_tensors(model_dir) -> dict:
    tensors = {}
    for path in sorted(model_dir.glob("model*.safetensors")):
        header = safetensors_header(path)
        header.pop("__metadata__", None)
        tensors.update(header)
    return tensors


def generate_tokens(model_dir, max_tokens=32):
    """Greedy mlx_lm.generate; returns the text and the ids the tokenizer reads back from it."""
    import mlx_lm
    from mlx_lm.sample_utils import make_sampler

    model, tokenizer = models.load_with_mlx_lm(model_dir)
    text = mlx_lm.generate(model, tokenizer, PROMPT, max_tokens=max_tokens,
                           sampler=make_sampler(temp=0.0))
    return text, tokenizer.encode(text, add_special_tokens=False)


def linear_shapes(config) -> dict[str, tuple[int, int]]:
    """(out, in) of each linear layer of Phi-3 as mlx-lm names them, from the architecture."""
    h, heads = config["hidden_size"], config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    d, inter, vocab = h // heads, config["intermediate_size"], config["vocab_size"]
    shapes = {"model.embed_tokens": (vocab, h)}
    if not config.get("tie_word_embeddings"):
        shapes["lm_head"] = (vocab, h)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes[p + "self_attn.qkv_proj"] = (heads * d + 2 * kv * d, h)
        shapes[p + "self_attn.o_proj"] = (h, heads * d)
        shapes[p + "mlp.gate_up_proj"] = (2 * inter, h)
        shapes[p + "mlp.down_proj"] = (h, inter)
    return shapes


# --- layout of each quantization variant -------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_layout_matches_hub_repo(test_model, variant):
    options, bits, group, float_dtype = VARIANTS[variant]
    model_dir = test_model("tiny", **options)
    names = {p.name for p in model_dir.iterdir()}
    assert names == HUB_FILES | {"model.safetensors"}

    config = json.loads((model_dir / "config.json").read_text())
    # Everything but the shapes is the real model's config.
    shape_keys = {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                  "intermediate_size", "rope_scaling", "eos_token_id", "quantization",
                  "quantization_config"}
    for key, value in FIXTURE_CONFIG.items():
        if key not in shape_keys:
            assert config[key] == value, key
    assert config["eos_token_id"] == [32000, 32001, 32007]  # mlx-lm merges generation_config
    if bits is None:
        assert "quantization" not in config and "quantization_config" not in config
    else:
        expected = {"group_size": group, "bits": bits, "mode": "affine"}
        assert config["quantization"] == expected
        assert config["quantization_config"] == expected

    generation = json.loads((model_dir / "generation_config.json").read_text())
    assert generation["bos_token_id"] == 1
    assert generation["eos_token_id"] == [32000, 32001, 32007]
    assert generation["pad_token_id"] == 32000
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        assert (model_dir / name).read_bytes() == (gen.TOKENIZER_DIR / name).read_bytes(), name

    header = safetensors_header(model_dir / "model.safetensors")
    assert header.pop("__metadata__") == {"format": "mlx"}
    for layer, (out_dim, in_dim) in linear_shapes(config).items():
        weight = header[layer + ".weight"]
        if bits is None:
            assert weight == {**weight, "dtype": float_dtype, "shape": [out_dim, in_dim]}, layer
            assert layer + ".scales" not in header
        else:
            assert weight["dtype"] == "U32" and weight["shape"] == [out_dim, in_dim * bits // 32]
            for part in ("scales", "biases"):
                assert header[f"{layer}.{part}"]["dtype"] == float_dtype
                assert header[f"{layer}.{part}"]["shape"] == [out_dim, in_dim // group]
    norms = [k for k in header if k.endswith("norm.weight")]
    assert len(norms) == 2 * config["num_hidden_layers"] + 1
    assert all(header[k]["dtype"] == float_dtype for k in norms)


def test_mixed_quantization_records_each_layer(test_model):
    model_dir = test_model("tiny", "4bit-g64", quant_predicate="mixed_3_6")
    config = json.loads((model_dir / "config.json").read_text())
    quant = config["quantization"]
    assert config["quantization_config"] == quant
    per_layer = {k: v for k, v in quant.items() if isinstance(v, dict)}
    assert {v["bits"] for v in per_layer.values()} == {3, 6}
    assert per_layer["lm_head"]["bits"] == 6  # mlx-lm's recipe keeps the head at high bits
    header = safetensors_header(model_dir / "model.safetensors")
    for layer, params in per_layer.items():
        in_dim = linear_shapes(config)[layer][1]
        assert header[layer + ".weight"]["shape"][1] == in_dim * params["bits"] // 32, layer


def test_sharded_output_has_a_complete_index(test_model):
    model_dir = test_model("tiny", "4bit-g64", shards=3)
    shard_names = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    assert {p.name for p in model_dir.iterdir()} == HUB_FILES | set(shard_names)
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    stored = {}
    for name in shard_names:
        header = safetensors_header(model_dir / name)
        header.pop("__metadata__")
        assert header, f"{name} is empty"
        stored.update({tensor: name for tensor in header})
    assert index["weight_map"] == stored
    assert list(index["weight_map"]) == sorted(index["weight_map"])
    sizes = [t["data_offsets"][1] - t["data_offsets"][0] for t in all_tensors(model_dir).values()]
    assert index["metadata"]["total_size"] == sum(sizes)


# --- mlx-lm runs them --------------------------------------------------------------------------


@pytest.mark.parametrize("preset,options", [
    ("tiny", dict(quant="4bit-g64")),
    ("tiny", dict(quant="8bit", dtype="float32")),
    ("tiny", dict(quant="bf16")),
    ("tiny", dict(quant="4bit-g32", shards=3, dtype="float32")),
    ("tiny", dict(quant="4bit-g64", quant_predicate="mixed_3_6", dtype="float32")),
    ("tiny-gqa", dict(quant="fp32", rope="longrope", equal_rope_factors=True)),
    ("tiny", dict(quant="fp32", tie_embeddings=True, rope="none")),
    ("tiny", dict(quant="fp32", rope="linear", partial_rotary_factor=0.5)),
], ids=["4bit-g64", "8bit-f32", "bf16", "sharded-4bit-g32", "mixed_3_6", "gqa-longrope",
        "tied-norope", "linear-partial"])
def test_mlx_lm_generates_varied_text(test_model, preset, options):
    text, ids = generate_tokens(test_model(preset, **options))
    assert text
    # Random weights give gibberish, but not one token over and over.
    assert len(set(ids)) >= 8, text


def test_weights_are_deterministic_per_seed(test_model, tmp_path):
    first = test_model("tiny", "fp32", seed=7)
    again = gen.build(tmp_path / "again", "tiny", "fp32", seed=7, quiet=True)
    # Building over an existing model replaces it with the same files.
    gen.build(again, "tiny", "fp32", seed=7, quiet=True)
    other = test_model("tiny", "fp32", seed=8)
    weights = (first / "model.safetensors").read_bytes()
    assert (again / "model.safetensors").read_bytes() == weights
    assert (other / "model.safetensors").read_bytes() != weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no leftovers


# --- configuration options and the full-size preset, without building --------------------------


def test_full_size_preset_is_the_real_model():
    config = gen.make_config("phi3-mini-128k")
    expected = {k: v for k, v in FIXTURE_CONFIG.items() if k != "quantization"}
    assert config == expected
    shapes = gen.hf_tensor_shapes(config)
    # Phi-3-mini as published: 3,821,079,552 parameters.
    assert sum(int.__mul__(*s) if len(s) == 2 else s[0] for s in shapes.values()) == 3821079552
    assert shapes["model.embed_tokens.weight"] == (32064, 3072)
    assert shapes["lm_head.weight"] == (32064, 3072)
    assert shapes["model.layers.31.self_attn.qkv_proj.weight"] == (9216, 3072)
    assert shapes["model.layers.31.mlp.gate_up_proj.weight"] == (16384, 3072)
    assert shapes["model.layers.31.mlp.down_proj.weight"] == (3072, 8192)
    assert len([k for k in shapes if k.endswith("o_proj.weight")]) == 32
    for layer, (out_dim, in_dim) in linear_shapes(config).items():
        assert shapes[layer + ".weight"] == (out_dim, in_dim)


@pytest.mark.parametrize("preset", ["tiny", "tiny-gqa", "mid"])
def test_presets_keep_real_vocabulary_and_rope(preset):
    config = gen.make_config(preset)
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    assert config["vocab_size"] == 32064
    assert config["rope_scaling"]["type"] == "su"
    assert len(config["rope_scaling"]["long_factor"]) == head_dim // 2
    assert len(config["rope_scaling"]["short_factor"]) == head_dim // 2
    assert config["rope_scaling"]["short_factor"] != config["rope_scaling"]["long_factor"]
    assert config["original_max_position_embeddings"] == 4096
    assert config["max_position_embeddings"] == 131072
    if preset == "tiny-gqa":
        assert config["num_key_value_heads"] < config["num_attention_heads"]


def test_rope_and_override_options():
    config = gen.make_config("tiny", rope="longrope", equal_rope_factors=True,
                             partial_rotary_factor=0.5, tie_embeddings=True,
                             overrides={"rope_theta": 500000.0, "sliding_window": None,
                                        "rope_scaling.extra": 1})
    rope = config["rope_scaling"]
    assert rope["type"] == "longrope" and rope["extra"] == 1
    assert rope["short_factor"] == rope["long_factor"]
    assert len(rope["long_factor"]) == 32 // 2 // 2  # half of a 32-wide head rotates
    assert config["rope_theta"] == 500000.0 and "sliding_window" not in config
    assert config["tie_word_embeddings"] is True
    assert "lm_head.weight" not in gen.hf_tensor_shapes(config)
    assert gen.make_config("tiny", rope="none")["rope_scaling"] is None
    assert gen.make_config("tiny", rope="linear")["rope_scaling"]["factor"] == 2.0


def test_command_line_rejects_bad_set():
    with pytest.raises(SystemExit):
        gen.main(["/nonexistent", "--set", "no-equals-sign"])
