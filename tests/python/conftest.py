"""Shared pytest fixtures: where the repository and the Pensieve binaries are, and test models.

Test files add their own fixtures next to them; only what many of them need belongs here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import models

ROOT = models.ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def test_model():
    """Factory: test_model(preset="tiny", quant="4bit-g64", **options) -> model folder.

    Options are those of tools/make_test_model.py's build() (seed, shards, tie_embeddings, rope,
    equal_rope_factors, partial_rotary_factor, overrides, quant_predicate, dtype). Models are
    cached in tests/.models across runs.
    """
    return models.build_model


@pytest.fixture(scope="session")
def tiny_model(test_model) -> Path:
    """The tiny preset in the layout of mlx-community/Phi-3-mini-128k-instruct-4bit."""
    return test_model("tiny", "4bit-g64")


def _binary(relative: str, make_target: str) -> Path:
    path = ROOT / relative
    if not path.is_file():
        # A missing binary is a failure, never a skip: the suite must not pass without it.
        pytest.fail(f"{path} is missing; run `make {make_target}` first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def pensieve_bin() -> Path:
    return _binary("build/pensieve", "build")


@pytest.fixture(scope="session")
def pensieve_asan_bin() -> Path:
    return _binary("build-asan/pensieve", "build-asan")
