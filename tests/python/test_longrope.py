"""LongRoPE as the reference model defines it, checked against transformers' Phi3 in float32.

Short factors while the sequence fits in original_max_position_embeddings, long factors beyond,
with the attention factor in both regimes. The test model has distinct short and long factors and
a small original_max_position_embeddings (64) so both regimes are reached with short prompts.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
from transformers import Phi3Config, Phi3ForCausalLM
from safetensors.torch import load_file

ORIGINAL_MAX = 64
SHORT_PROMPT = "A short prompt stays within the original window."
LONG_PROMPT = " ".join(["Past the original window the long factors apply to every position."] * 8)


@pytest.fixture(scope="module")
def longrope_model(test_model):
    return test_model("tiny", "fp32", rope="longrope",
                      overrides={"original_max_position_embeddings": ORIGINAL_MAX,
                                 "max_position_embeddings": 4096})


def transformers_logits(model_dir, ids):
    config = json.loads((model_dir / "config.json").read_text())
    config.pop("quantization", None)
    config.pop("quantization_config", None)
    model = Phi3ForCausalLM(Phi3Config(**config)).eval()
    state = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        state.update(load_file(str(shard)))
    if "lm_head.weight" not in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    with torch.no_grad():
        out = model(torch.tensor([ids]))
    return out.logits[0, -1].numpy().astype(np.float64)


def pensieve_logits(binary, model_dir, prompt, tmp_path):
    out = tmp_path / "logits.json"
    proc = subprocess.run([str(binary), "run", "-m", str(model_dir), "--raw", "-n", "1", "--dtype", "float32",
                           "--logits-out", str(out), prompt], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return np.array(json.loads(out.read_text()))


@pytest.mark.parametrize("prompt,regime", [(SHORT_PROMPT, "short"), (LONG_PROMPT, "long")])
def test_longrope_regime_matches_transformers(prompt, regime, longrope_model, pensieve_bin, tmp_path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(longrope_model))
    ids = tok(prompt)["input_ids"]
    assert (len(ids) > ORIGINAL_MAX) == (regime == "long")
    ours = pensieve_logits(pensieve_bin, longrope_model, prompt, tmp_path)
    ref = transformers_logits(longrope_model, ids)
    rel = np.max(np.abs(ours - ref)) / np.max(np.abs(ref))
    assert rel < 1e-3, f"{regime} regime: relative logit difference {rel}"


def test_the_two_regimes_differ(longrope_model, pensieve_bin, tmp_path):
    # Guards the test above: were short and long factors equal, it could not tell them apart.
    config = json.loads((longrope_model / "config.json").read_text())
    assert config["rope_scaling"]["short_factor"] != config["rope_scaling"]["long_factor"]
