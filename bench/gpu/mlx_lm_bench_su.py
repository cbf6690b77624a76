#!/usr/bin/env python3
"""bench/mlx_lm_bench.py with mlx-lm's tokenizer loader wrapped so that transformers 5 accepts a
Phi-3 128k config (rope type "su"; see tools/make_test_model.py, tokenizer_load_kwargs). The
benchmark itself does not use the tokenizer; the arguments are bench/mlx_lm_bench.py's.
"""
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import make_test_model as m  # noqa: E402

with m._mlx_tokenizer_tolerates_su_rope():
    sys.argv[0] = str(ROOT / "bench" / "mlx_lm_bench.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
