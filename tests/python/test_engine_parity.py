"""Pensieve's generation is token for token what mlx-lm generates on the same model directory.

Each model variant is a tiny random Phi-3 built by tools/make_test_model.py through mlx_lm.convert
(equal short/long RoPE factors, since mlx-lm always uses the long ones). Both sides run in
float32. With MLX's own quantized matmul (PENSIEVE_CPU_KERNELS=0) and a float32 KV cache as
mlx-lm's, greedy ids must be identical and last-position logits within 1e-3 relative (they agree
to ~1e-6). With the float16 KV cache Pensieve keeps by default on the CPU, each stored key and
value is rounded by up to 2^-11 of itself, which moves these logits by 1-4e-4 relative: still
within 1e-3, and greedy ids may part only at a near tie of that size. With Pensieve's CPU kernels,
which quantize activations to int8 (about 0.5% error per product), logits must stay within 3% and
greedy ids may part from mlx-lm's only where mlx-lm itself had a near tie between the two choices.
"""
import json
import os
import subprocess

import numpy as np
import pytest

import mlx_reference

VARIANTS = [
    ("tiny", "4bit-g64", {}),
    ("tiny", "4bit-g32", {}),
    ("tiny", "8bit", {}),
    ("tiny", "bf16", {}),
    ("tiny-gqa", "4bit-g64", {}),
    ("tiny", "4bit-g64", {"tie_embeddings": True}),
    ("tiny-gqa", "8bit", {"shards": 3}),
    ("tiny", "4bit-g64", {"quant_predicate": "mixed_3_6"}),  # per-layer quantization entries
    ("tiny", "4bit-g64", {"rope": "none"}),
    ("tiny", "4bit-g64", {"rope": "linear"}),
    ("tiny-gqa", "4bit-g64", {"partial_rotary_factor": 0.5}),
]
PROMPTS = [
    "The quick brown fox",
    "def fibonacci(n):\n    return",
    "Ünïcödé — 日本語のテキスト and emoji 🎉 mixed in.",
]
MAX_TOKENS = 64


def variant_id(v):
    preset, quant, opts = v
    extra = "-".join(f"{k}={val}" for k, val in opts.items())
    return f"{preset}-{quant}" + (f"-{extra}" if extra else "")


def run_pensieve(binary, model_dir, prompt, tmp_path, *extra, kernels=False):
    ids_file = tmp_path / "ids.json"
    logits_file = tmp_path / "logits.json"
    env = dict(os.environ, PENSIEVE_CPU_KERNELS="1" if kernels else "0")
    proc = subprocess.run(
        [str(binary), "run", "-m", str(model_dir), "--raw", "--temp", "0", "-n", str(MAX_TOKENS),
         "--dtype", "float32", "--ids-out", str(ids_file), "--logits-out", str(logits_file),
         *extra, prompt],
        capture_output=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    # Bytes, not text mode: universal newlines would turn a generated "\r" into "\n".
    return proc.stdout.decode("utf-8"), json.loads(ids_file.read_text()), np.array(json.loads(logits_file.read_text()))


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_greedy_generation_matches_mlx_lm(variant, test_model, pensieve_bin, tmp_path):
    preset, quant, opts = variant
    model_dir = test_model(preset, quant, equal_rope_factors=True, **opts)
    tok = mlx_reference.tokenizer(model_dir)
    for prompt in PROMPTS:
        prompt_ids = tok.encode(prompt)  # BOS as the tokenizer config says
        text, ids, logits = run_pensieve(pensieve_bin, model_dir, prompt, tmp_path, "--kv-dtype", "float32")
        ref_ids = mlx_reference.greedy_ids(model_dir, prompt_ids, MAX_TOKENS)
        assert ids == ref_ids, f"prompt {prompt!r}"
        assert text == tok.decode(ref_ids)
        rel = relative_to_mlx_lm(logits, model_dir, prompt_ids)
        assert rel < 1e-3, f"prompt {prompt!r}: relative logit difference {rel}"


def relative_to_mlx_lm(logits, model_dir, prompt_ids):
    """max |logits − mlx-lm's last logits| over max |mlx-lm's|."""
    ref = np.array(mlx_reference.last_logits(model_dir, prompt_ids))
    return np.max(np.abs(logits - ref)) / np.max(np.abs(ref))


def parted_at_near_tie(model_dir, prompt_ids, ids, ref_ids, tie):
    """True when ids equal ref_ids, or part where mlx-lm's margin between the two choices is
    below tie × its largest |logit|."""
    n = min(len(ids), len(ref_ids))
    split = next((i for i in range(n) if ids[i] != ref_ids[i]), None)
    if split is None:
        return len(ids) == len(ref_ids)
    step = np.array(mlx_reference.last_logits(model_dir, prompt_ids + ref_ids[:split]))
    return step[ref_ids[split]] - step[ids[split]] < tie * np.max(np.abs(step))


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_float16_kv_cache_tracks_mlx_lm(variant, test_model, pensieve_bin, tmp_path):
    preset, quant, opts = variant
    model_dir = test_model(preset, quant, equal_rope_factors=True, **opts)
    tok = mlx_reference.tokenizer(model_dir)
    for prompt in PROMPTS:
        prompt_ids = tok.encode(prompt)
        _, ids, logits = run_pensieve(pensieve_bin, model_dir, prompt, tmp_path)  # float16 KV by default
        rel = relative_to_mlx_lm(logits, model_dir, prompt_ids)
        assert rel < 1e-3, f"prompt {prompt!r}: relative logit difference {rel}"
        ref_ids = mlx_reference.greedy_ids(model_dir, prompt_ids, MAX_TOKENS)
        assert parted_at_near_tie(model_dir, prompt_ids, ids, ref_ids, 1e-3), f"prompt {prompt!r}"


NEAR_TIE = 0.02  # of the largest |logit|


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[1] != "bf16"], ids=variant_id)
def test_cpu_kernel_path_tracks_mlx_lm(variant, test_model, pensieve_bin, tmp_path):
    preset, quant, opts = variant
    model_dir = test_model(preset, quant, equal_rope_factors=True, **opts)
    tok = mlx_reference.tokenizer(model_dir)
    for prompt in PROMPTS:
        prompt_ids = tok.encode(prompt)
        _, ids, logits = run_pensieve(pensieve_bin, model_dir, prompt, tmp_path, kernels=True)
        ref_ids = mlx_reference.greedy_ids(model_dir, prompt_ids, MAX_TOKENS)
        assert relative_to_mlx_lm(logits, model_dir, prompt_ids) < 0.03, f"prompt {prompt!r}"
        # Where the two part, mlx-lm's own scores for the two choices must be nearly equal.
        assert parted_at_near_tie(model_dir, prompt_ids, ids, ref_ids, NEAR_TIE), f"prompt {prompt!r}"


def test_generation_is_not_degenerate(test_model, pensieve_bin, tmp_path):
    # Guards the parity test itself: a model that repeats one token would match trivially.
    model_dir = test_model("tiny", "4bit-g64", equal_rope_factors=True)
    _, ids, _ = run_pensieve(pensieve_bin, model_dir, PROMPTS[0], tmp_path)
    assert len(ids) >= 16 and len(set(ids)) >= 8


def test_chunked_prefill_gives_the_same_result(test_model, pensieve_bin, tmp_path):
    model_dir = test_model("tiny-gqa", "4bit-g64", equal_rope_factors=True)
    prompt = " ".join(["chunked prefill keeps memory bounded"] * 12)
    _, whole_ids, whole_logits = run_pensieve(pensieve_bin, model_dir, prompt, tmp_path)
    _, chunk_ids, chunk_logits = run_pensieve(pensieve_bin, model_dir, prompt, tmp_path,
                                              "--prefill-chunk", "7")
    assert chunk_ids == whole_ids
    assert np.max(np.abs(chunk_logits - whole_logits)) / np.max(np.abs(whole_logits)) < 1e-4
