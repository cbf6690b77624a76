"""tools/make_test_gguf.py writes a Phi-3 GGUF that llama.cpp's `phi3` architecture loads.

References, none of them the generator:
- tensor names: gguf-py's own Hugging Face → GGUF name map for MODEL_ARCH.PHI3
  (`gguf.get_tensor_name_map`) applied to the Hugging Face parameter list of the same config
  (tools/make_test_model.py's `hf_tensor_shapes`, which the MLX model is built from), and
  `gguf.MODEL_TENSORS[MODEL_ARCH.PHI3]`, the tensor kinds llama.cpp accepts for the architecture;
- tensor shapes and metadata keys: llama.cpp's loader, src/models/phi3.cpp (`load_arch_tensors`,
  `load_arch_hparams`) and src/llama-model.cpp (`load_hparams`), build 0c1e570, transcribed below;
- Q4_0 blocks: gguf-py's dequantizer (`gguf.quants.dequantize`), a port of ggml's block_q4_0;
- values: the fixture config tests/fixtures/phi3-mini-128k-config and the vocabulary GGUF
  tests/fixtures/phi3-vocab.
"""
from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

import gguf
import models

ROOT = models.ROOT
make_test_model = models.generator
VOCAB_GGUF = ROOT / "tests" / "fixtures" / "phi3-vocab" / "ggml-vocab-phi-3.gguf"
PRESET = "tiny"


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_test_gguf", ROOT / "tools" / "make_test_gguf.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config() -> dict:
    return make_test_model.make_config(PRESET)


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> gguf.GGUFReader:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    _load_tool().main([str(path), "--preset", PRESET])
    return gguf.GGUFReader(path)


def _field(reader, key):
    field = reader.fields[key]
    return field.contents()


def llama_cpp_phi3_shapes(config) -> dict[str, list[int]]:
    """The ggml shapes (ne0 = columns first) src/models/phi3.cpp's load_arch_tensors asks for."""
    n_embd, n_vocab, n_ff = config["hidden_size"], config["vocab_size"], config["intermediate_size"]
    n_head = config["num_attention_heads"]
    n_embd_head = n_embd // n_head
    n_embd_gqa = config["num_key_value_heads"] * n_embd_head
    n_rot = n_embd_head  # partial_rotary_factor 1 in the Phi-3 config
    shapes = {"token_embd.weight": [n_embd, n_vocab], "output_norm.weight": [n_embd],
              "output.weight": [n_embd, n_vocab],
              "rope_factors_long.weight": [n_rot // 2], "rope_factors_short.weight": [n_rot // 2]}
    for i in range(config["num_hidden_layers"]):
        shapes |= {f"blk.{i}.attn_norm.weight": [n_embd],
                   # create_tensor_qkv: the fused {n_embd, n_embd_q + n_embd_k + n_embd_v} form
                   f"blk.{i}.attn_qkv.weight": [n_embd, n_embd + 2 * n_embd_gqa],
                   f"blk.{i}.attn_output.weight": [n_embd, n_embd],
                   f"blk.{i}.ffn_norm.weight": [n_embd],
                   f"blk.{i}.ffn_down.weight": [n_ff, n_embd],
                   f"blk.{i}.ffn_up.weight": [n_embd, 2 * n_ff]}
    return shapes


def test_tensor_names_are_gguf_pys_phi3_names(reader, config):
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.PHI3, config["num_hidden_layers"])
    expected = {name_map.get_name(hf, try_suffixes=(".weight",)) for hf in make_test_model.hf_tensor_shapes(config)}
    assert None not in expected
    # Not Hugging Face parameters: llama.cpp's converter adds the LongRoPE factors as tensors.
    expected |= {gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FACTORS_LONG] + ".weight",
                 gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT] + ".weight"}
    names = [t.name for t in reader.tensors]
    assert len(names) == len(set(names))
    assert set(names) == expected
    allowed = {gguf.TENSOR_NAMES[kind].format(bid=i) + ".weight"
               for kind in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.PHI3] for i in range(config["num_hidden_layers"])}
    assert set(names) <= allowed


def test_tensor_shapes_and_types_are_what_llama_cpp_loads(reader, config):
    want = llama_cpp_phi3_shapes(config)
    got = {t.name: [int(d) for d in t.shape] for t in reader.tensors}
    assert got == want
    for t in reader.tensors:
        expected_type = gguf.GGMLQuantizationType.Q4_0 if len(t.shape) == 2 else gguf.GGMLQuantizationType.F32
        assert t.tensor_type == expected_type, t.name


def test_q4_0_blocks_are_an_f16_scale_and_16_bytes_of_codes(reader):
    quantized = [t for t in reader.tensors if t.tensor_type == gguf.GGMLQuantizationType.Q4_0]
    assert quantized
    for t in quantized:
        cols, rows = (int(d) for d in t.shape)
        assert cols % 32 == 0
        assert t.n_bytes == rows * cols // 32 * 18, t.name  # 2-byte scale + 32 nibbles per block
        assert t.data.shape == (rows, cols // 32 * 18)
    # One matrix decoded by gguf-py: every weight is (code - 8) × its block's float16 scale.
    t = next(t for t in quantized if t.name == "blk.0.attn_qkv.weight")
    cols, rows = (int(d) for d in t.shape)
    weights = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    assert weights.shape == (rows, cols)
    scales = np.asarray(t.data).reshape(rows, cols // 32, 18)[:, :, :2].copy().view("<f2")[..., 0]
    scales = scales.astype(np.float32)
    assert np.all(np.isfinite(scales)) and np.all(scales > 0) and np.all(scales < 0.02)
    codes = weights.reshape(rows, cols // 32, 32) / scales[..., None] + 8
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    assert codes.min() >= -1e-3 and codes.max() <= 15 + 1e-3
    assert len(np.unique(np.round(codes))) == 16  # random codes, not a constant


def test_hparams_are_the_configs(reader, config):
    arch = "phi3"
    assert _field(reader, gguf.Keys.General.ARCHITECTURE) == arch
    key = {name: template.format(arch=arch) for name, template in {
        "ctx": gguf.Keys.LLM.CONTEXT_LENGTH, "embd": gguf.Keys.LLM.EMBEDDING_LENGTH,
        "ff": gguf.Keys.LLM.FEED_FORWARD_LENGTH, "blocks": gguf.Keys.LLM.BLOCK_COUNT,
        "heads": gguf.Keys.Attention.HEAD_COUNT, "kv_heads": gguf.Keys.Attention.HEAD_COUNT_KV,
        "eps": gguf.Keys.Attention.LAYERNORM_RMS_EPS, "rot": gguf.Keys.Rope.DIMENSION_COUNT,
        "base": gguf.Keys.Rope.FREQ_BASE, "orig_ctx": gguf.Keys.Rope.SCALING_ORIG_CTX_LEN,
        "attn_factor": gguf.Keys.Rope.SCALING_ATTN_FACTOR}.items()}
    # llama.cpp's load_hparams requires these (get_key without a default) for every architecture,
    # phi3's load_arch_hparams the RMS epsilon.
    assert _field(reader, key["ctx"]) == config["max_position_embeddings"] == 131072
    assert _field(reader, key["embd"]) == config["hidden_size"]
    assert _field(reader, key["blocks"]) == config["num_hidden_layers"]
    assert _field(reader, key["eps"]) == pytest.approx(config["rms_norm_eps"])
    assert _field(reader, key["ff"]) == config["intermediate_size"]
    assert _field(reader, key["heads"]) == config["num_attention_heads"]
    assert _field(reader, key["kv_heads"]) == config["num_key_value_heads"]
    assert _field(reader, key["rot"]) == config["hidden_size"] // config["num_attention_heads"]
    assert _field(reader, key["base"]) == pytest.approx(config["rope_theta"])
    # LongRoPE: long factors past the original 4096-token context, scaled attention as in Phi-3's
    # modelling code: sqrt(1 + ln(131072 / 4096) / ln(4096)).
    assert _field(reader, key["orig_ctx"]) == config["original_max_position_embeddings"] == 4096
    assert _field(reader, key["attn_factor"]) == pytest.approx(math.sqrt(1 + math.log(32) / math.log(4096)))
    assert _field(reader, gguf.Keys.General.FILE_TYPE) == gguf.LlamaFileType.MOSTLY_Q4_0
    tensors = {t.name: t for t in reader.tensors}
    np.testing.assert_array_equal(tensors["rope_factors_long.weight"].data,
                                  np.float32(config["rope_scaling"]["long_factor"]))
    np.testing.assert_array_equal(tensors["rope_factors_short.weight"].data,
                                  np.float32(config["rope_scaling"]["short_factor"]))


def test_tokenizer_metadata_is_the_real_vocabularys(reader):
    vocab = gguf.GGUFReader(VOCAB_GGUF)
    wanted = {k: f for k, f in vocab.fields.items() if k.startswith("tokenizer.")}
    assert len(wanted) >= 10 and "tokenizer.ggml.tokens" in wanted
    for key, field in wanted.items():
        got = reader.fields[key]
        assert list(got.types) == list(field.types), key
        assert [bytes(got.parts[i]) for i in got.data] == [bytes(field.parts[i]) for i in field.data], key
    assert len(_field(reader, "tokenizer.ggml.tokens")) == 32064
