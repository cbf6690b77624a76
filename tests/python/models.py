"""Random-weight Phi-3 models for the tests, built once by tools/make_test_model.py and cached.

A model lives in tests/.models/<key>, where the key hashes the build options, the generator's
source, the tokenizer fixture and the mlx-lm version: change any of them and the next run builds
afresh, otherwise runs reuse what is there. Builds land by atomic rename, so a half-built model
is never seen, even by pytest workers racing for the same one.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATOR_PATH = ROOT / "tools" / "make_test_model.py"
MODELS_DIR = ROOT / "tests" / ".models"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_test_model", GENERATOR_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generator = _load_generator()


def _fingerprint(options: dict) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(options, sort_keys=True).encode())
    digest.update(GENERATOR_PATH.read_bytes())
    for name in generator.TOKENIZER_FILES:
        path = generator.TOKENIZER_DIR / name
        if path.is_file():
            digest.update(name.encode() + path.read_bytes())
    digest.update(metadata.version("mlx-lm").encode())
    return digest.hexdigest()[:16]


def build_model(preset: str = "tiny", quant: str = "4bit-g64", **options) -> Path:
    """Path of a model built with make_test_model.build(preset, quant, **options), cached."""
    key = {"preset": preset, "quant": quant, **options}
    out_dir = MODELS_DIR / _fingerprint(key)
    if not out_dir.is_dir():
        generator.build(out_dir, preset, quant, overwrite=False, quiet=True, **options)
    return out_dir


def load_with_mlx_lm(model_dir):
    """mlx_lm.load for these models (and the real Phi-3 128k repositories): transformers 5
    cannot parse the "su" rope type, so the tokenizer is loaded without reading config.json."""
    import mlx_lm

    return mlx_lm.load(str(model_dir), tokenizer_config=generator.tokenizer_load_kwargs())
