"""bench/gpu/summarize.py, which turns one GPU run's JSON files into the issue's figures: the bytes a
decode step reads (every weight but the embedding table, plus the keys and values of the mean
context), the roofline fraction against the copy bandwidth, and the ratios to mlx-lm, llama.cpp
and one stream of the server. Inputs with round numbers; the expected figures worked out by hand."""
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def write_safetensors(path: Path, sizes: dict[str, int]) -> None:
    header, offset = {}, 0
    for name, n in sizes.items():
        header[name] = {"dtype": "U8", "shape": [n], "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


@pytest.fixture()
def run(tmp_path):
    model, res = tmp_path / "model", tmp_path / "res"
    model.mkdir()
    res.mkdir()
    # Layers 3, heads 4 of 16 values, 2 key-value heads: 2 · 3 · 2 · 16 · 2 = 384 bytes a token.
    (model / "config.json").write_text(json.dumps(
        {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 3}))
    write_safetensors(model / "model.safetensors", {"model.embed_tokens.weight": 1000, "model.layers.0.w": 9000})
    files = {
        "bandwidth.json": {"torch": {"GBps_median": 0.0057}},
        "pensieve_bench.json": {"prompt_tokens": 100, "generated_tokens": 50, "decode_tokens_per_s": 75.0,
                                "prefill_tokens_per_s": 300.0,
                                "runs": [{"decode_tokens_per_s": v} for v in (10.0, 70.0, 80.0, 74.0)]},
        "pensieve_bench_0.json": {"decode_tokens_per_s": 25.0},
        "mlx_lm_bench.json": {"decode_tokens_per_s": 50.0, "prefill_tokens_per_s": 150.0},
        "llama_bench.json": [{"n_prompt": 512, "n_gen": 0, "avg_ts": 200.0},
                             {"n_prompt": 0, "n_gen": 128, "avg_ts": 60.0}],
        "server_bench.json": {"levels": [
            {"concurrency": 1, "steady_decode_tokens_per_s": 52.0, "per_stream_decode_tokens_per_s": 50.0},
            {"concurrency": 8, "errors": 2},
            {"concurrency": 32, "steady_decode_tokens_per_s": 500.0, "per_stream_decode_tokens_per_s": 15.0}]},
    }
    for name, body in files.items():
        (res / name).write_text(json.dumps(body))

    def summarize():
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu" / "summarize.py"), str(res), str(model)],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)
    return summarize, res


def test_step_bytes_leave_out_the_embedding_and_count_the_mean_context(run):
    s = run[0]()
    assert s["embedding_bytes"] == 1000 and s["weights_read_per_step"] == 9000
    assert s["kv_bytes_per_token"] == 384
    assert s["mean_context"] == 125  # 100 prompt tokens, then half of the 50 generated
    assert s["bytes_per_decode_step"] == 9000 + 384 * 125  # 57 000


def test_roofline_fraction_against_the_copy_bandwidth(run):
    s = run[0]()
    assert s["roofline_tokens_per_s"] == pytest.approx(100.0)  # 5.7 MB/s over 57 000 bytes a step
    assert s["pensieve_fraction_of_roofline"] == pytest.approx(0.75)
    assert s["pensieve_achieved_GBps"] == pytest.approx(75 * 57000 / 1e9)


def test_ratios_to_the_references(run):
    s = run[0]()
    assert s["pensieve_over_mlx_lm_decode"] == pytest.approx(1.5)
    assert s["pensieve_over_mlx_lm_prefill"] == pytest.approx(2.0)
    assert s["pensieve_decode_median_tokens_per_s"] == pytest.approx(74.0)  # runs after the first
    assert s["pensieve_over_mlx_path_decode"] == pytest.approx(3.0)
    assert s["pensieve_over_llama_cpp_tg"] == pytest.approx(1.25)
    assert s["pensieve_median_over_llama_cpp_tg"] == pytest.approx(74.0 / 60.0)
    assert s["pensieve_over_llama_cpp_pp"] == pytest.approx(1.5)


def test_32_streams_against_one_stream_of_the_server_and_of_the_bench(run):
    s = run[0]()
    assert s["aggregate32_over_batch1_server"] == pytest.approx(10.0)  # 500 against the one stream's 50
    assert s["aggregate32_over_batch1_bench"] == pytest.approx(500.0 / 75.0)
    assert set(s["server"]) == {"1", "32"}  # the level with errors is left out


def test_missing_references_leave_their_figures_out(run):
    summarize, res = run
    for name in ("llama_bench.json", "server_bench.json", "mlx_lm_bench.json"):
        (res / name).unlink()
    s = summarize()
    assert "pensieve_fraction_of_roofline" in s
    assert not any(k.startswith(("llama_cpp", "pensieve_over_llama", "aggregate32", "mlx_lm", "pensieve_over_mlx_lm"))
                   for k in s)
