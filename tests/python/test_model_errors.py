"""Broken model directories end in one clear error line and exit status 1, never a crash.

Runs the sanitizer build of `pensieve run`, so an out-of-bounds read or undefined behaviour while
rejecting a file fails the test even when the process would otherwise survive it.
"""
import json
import os
import shutil
import subprocess

import pytest


def broken_copy(src, dst):
    shutil.copytree(src, dst, symlinks=False)
    return dst


def truncate(path, keep_fraction):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def edit_config(model_dir, **changes):
    path = model_dir / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def first_shard(model_dir):
    return sorted(model_dir.glob("*.safetensors"))[0]


CASES = {
    "missing_config": (lambda d: (d / "config.json").unlink(), "config.json"),
    "missing_weights": (lambda d: [p.unlink() for p in d.glob("*.safetensors")], "safetensors"),
    "missing_tokenizer": (lambda d: (d / "tokenizer.json").unlink(), "tokenizer.json"),
    "truncated_weights_data": (lambda d: truncate(first_shard(d), 0.6), "truncated"),
    "truncated_weights_header": (lambda d: truncate(first_shard(d), 0.0001), "truncated"),
    "garbage_weights": (lambda d: first_shard(d).write_bytes(os.urandom(4096)), "safetensors"),
    "wrong_vocab_size": (lambda d: edit_config(d, vocab_size=32000), "shape"),
    "wrong_intermediate_size": (lambda d: edit_config(d, intermediate_size=512), "shape"),
    "wrong_layer_count": (lambda d: edit_config(d, num_hidden_layers=3), "missing"),
    "unknown_architecture": (lambda d: edit_config(d, model_type="mamba", architectures=["MambaForCausalLM"]), "mamba"),
    "malformed_config_json": (lambda d: (d / "config.json").write_text('{"model_type": "phi3",'), "JSON"),
    "bad_field_type": (lambda d: edit_config(d, num_attention_heads="many"), "num_attention_heads"),
    "bad_rope_scaling": (lambda d: edit_config(d, rope_scaling={"type": "yarn", "factor": 2.0}), "rope_scaling"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_model_directory_is_a_clear_error(case, test_model, pensieve_asan_bin, tmp_path):
    damage, expected = CASES[case]
    model_dir = broken_copy(test_model("tiny", "4bit-g64"), tmp_path / "model")
    damage(model_dir)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="halt_on_error=1")
    proc = subprocess.run([str(pensieve_asan_bin), "run", "-m", str(model_dir), "--raw", "-n", "4", "hello"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr[-3000:]
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert expected.lower() in lines[0].lower(), lines[0]
    assert proc.stdout == ""


def test_sharded_model_with_missing_shard(test_model, pensieve_asan_bin, tmp_path):
    model_dir = broken_copy(test_model("tiny-gqa", "8bit", shards=3), tmp_path / "model")
    sorted(model_dir.glob("model-*.safetensors"))[1].unlink()
    proc = subprocess.run([str(pensieve_asan_bin), "run", "-m", str(model_dir), "--raw", "-n", "4", "hi"],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert proc.returncode == 1
    assert "shard" in proc.stderr and "missing" in proc.stderr


def test_not_a_directory_says_how_to_pass_a_local_model(pensieve_bin, tmp_path):
    proc = subprocess.run([str(pensieve_bin), "run", "-m", "org/not-here", "--raw", "hi"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "local model directory" in proc.stderr
