"""LongRoPE as Phi-3's reference definition has it: short factors while the sequence fits in
original_max_position_embeddings, long factors beyond, with the attention factor in both regimes.

mlx-lm is the reference implementation, in float32. It always applies the long factors (with the
same attention factor), so it is the reference for the long regime as it stands; for the short
regime it is the reference once the model's config gives it the short factors as its long ones.
The test model has distinct short and long factors and a small original_max_position_embeddings
(64) so both regimes are reached with short prompts.
"""
import json
import subprocess

import mlx_reference
import numpy as np
import pytest

ORIGINAL_MAX = 64
SHORT_PROMPT = "A short prompt stays within the original window."
LONG_PROMPT = " ".join(["Past the original window the long factors apply to every position."] * 8)


@pytest.fixture(scope="module")
def longrope_model(test_model):
    return test_model("tiny", "fp32", rope="longrope",
                      overrides={"original_max_position_embeddings": ORIGINAL_MAX,
                                 "max_position_embeddings": 4096})


@pytest.fixture(scope="module")
def short_factor_model(longrope_model, tmp_path_factory):
    """The same weights, with the short factors where mlx-lm reads the long ones."""
    out = tmp_path_factory.mktemp("short-factors")
    for item in longrope_model.iterdir():
        (out / item.name).symlink_to(item.resolve())
    config = json.loads((longrope_model / "config.json").read_text())
    config["rope_scaling"]["long_factor"] = list(config["rope_scaling"]["short_factor"])
    (out / "config.json").unlink()
    (out / "config.json").write_text(json.dumps(config))
    return out


def pensieve_logits(binary, model_dir, prompt, tmp_path):
    out = tmp_path / "logits.json"
    proc = subprocess.run([str(binary), "run", "-m", str(model_dir), "--raw", "-n", "1", "--dtype", "float32",
                           "--logits-out", str(out), prompt], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return np.array(json.loads(out.read_text()))


def reference_logits(model_dir, ids):
    return np.array(mlx_reference.last_logits(str(model_dir), ids), dtype=np.float64)


def relative_difference(ours, ref):
    return np.max(np.abs(ours - ref)) / np.max(np.abs(ref))


@pytest.mark.parametrize("prompt,regime", [(SHORT_PROMPT, "short"), (LONG_PROMPT, "long")])
def test_longrope_regime_matches_reference(prompt, regime, longrope_model, short_factor_model,
                                           pensieve_bin, tmp_path):
    ids = mlx_reference.tokenizer(str(longrope_model)).encode(prompt)
    assert (len(ids) > ORIGINAL_MAX) == (regime == "long")
    ours = pensieve_logits(pensieve_bin, longrope_model, prompt, tmp_path)
    ref_dir = short_factor_model if regime == "short" else longrope_model
    rel = relative_difference(ours, reference_logits(ref_dir, ids))
    assert rel < 1e-3, f"{regime} regime: relative logit difference {rel}"


def test_short_regime_is_not_the_long_factors(longrope_model, pensieve_bin, tmp_path):
    # Guards the test above: were the factors equal, or the short regime ignored, it could not
    # tell the regimes apart. Below the original window Pensieve must not match the long factors.
    config = json.loads((longrope_model / "config.json").read_text())
    assert config["rope_scaling"]["short_factor"] != config["rope_scaling"]["long_factor"]
    ids = mlx_reference.tokenizer(str(longrope_model)).encode(SHORT_PROMPT)
    ours = pensieve_logits(pensieve_bin, longrope_model, SHORT_PROMPT, tmp_path)
    assert relative_difference(ours, reference_logits(longrope_model, ids)) > 1e-2
