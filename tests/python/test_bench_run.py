"""bench/run.py's own figures: the ratios against llama.cpp, read from llama-bench's real `-o json`
output (tests/fixtures/llama-bench, see its README for the run it came from), and the decode
roofline's byte count, checked against a count made by hand from the model's config."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys

import pytest

import models

ROOT = models.ROOT
FIXTURE = ROOT / "tests" / "fixtures" / "llama-bench" / "phi3-mini-128k-q4_0-pp512-tg128.json"


def _load_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_run()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return json.loads(FIXTURE.read_text())


def _record(records, n_prompt, n_gen):
    (r,) = [r for r in records if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen]
    return r


def test_llama_bench_figures_are_its_pp_and_tg_records(records):
    figures = run.llama_bench_figures(records, 512, 128)
    assert set(figures) == {"pp512", "tg128"}
    for label, (n_prompt, n_gen, tokens) in {"pp512": (512, 0, 512), "tg128": (0, 128, 128)}.items():
        r = _record(records, n_prompt, n_gen)
        # Best repetition from llama-bench's raw nanoseconds, not from its tokens/s fields.
        assert figures[label]["best_tokens_per_s"] == pytest.approx(tokens * 1e9 / min(r["samples_ns"]), rel=1e-4)
        assert figures[label]["mean_tokens_per_s"] == r["avg_ts"]
        assert figures[label]["threads"] == r["n_threads"]


def test_llama_bench_output_without_a_tg_record_is_an_error(records):
    with pytest.raises(ValueError, match="tg128"):
        run.llama_bench_figures([r for r in records if r["n_gen"] == 0], 512, 128)
    with pytest.raises(ValueError, match="pp256"):
        run.llama_bench_figures(records, 256, 128)


def _pensieve(prefill, decode):
    """`pensieve bench --json` figures: the top level is the best of its runs."""
    runs = [{"prefill_tokens_per_s": p, "decode_tokens_per_s": d, "time_to_first_token_s": 1.0}
            for p, d in zip(prefill, decode)]
    return {"prefill_tokens_per_s": max(prefill), "decode_tokens_per_s": max(decode), "runs": runs}


def test_ratios_divide_pensieve_by_llama_cpp(records):
    pp, tg = _record(records, 512, 0), _record(records, 0, 128)
    pp_best, tg_best = 512e9 / min(pp["samples_ns"]), 128e9 / min(tg["samples_ns"])
    after_prompt = _pensieve(prefill=[30.0, 20.0], decode=[6.0, 4.0])
    short_prompt = _pensieve(prefill=[1.0, 1.0], decode=[9.0, 7.0])
    ratios = run.ratios_vs_llama_cpp(after_prompt, short_prompt, run.llama_bench_figures(records, 512, 128))
    assert ratios == pytest.approx({
        "prefill_tokens_per_s_vs_llama_cpp_pp512": 30.0 / pp_best,
        "prefill_tokens_per_s_vs_llama_cpp_pp512_means": 25.0 / pp["avg_ts"],
        "decode_tokens_per_s_vs_llama_cpp_tg128": 9.0 / tg_best,
        "decode_tokens_per_s_vs_llama_cpp_tg128_means": 8.0 / tg["avg_ts"],
        "decode_after_prompt_tokens_per_s_vs_llama_cpp_tg128": 6.0 / tg_best,
        "decode_after_prompt_tokens_per_s_vs_llama_cpp_tg128_means": 5.0 / tg["avg_ts"],
    }, rel=1e-4)


def test_decode_bytes_per_token_counts_every_weight_and_one_embedding_row(tiny_model):
    config = json.loads((tiny_model / "config.json").read_text())
    h, inter, layers, vocab = (config[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"))
    bits, group = config["quantization"]["bits"], config["quantization"]["group_size"]
    kv = config["num_key_value_heads"] * (h // config["num_attention_heads"])

    def linear(rows, cols):  # codes plus float16 scales and biases, one pair per group
        return rows * cols * bits / 8 + rows * (cols // group) * 2 * 2

    per_layer = linear(h + 2 * kv, h) + linear(h, h) + linear(2 * inter, h) + linear(h, inter) + 2 * h * 2
    expected = layers * per_layer + h * 2 + linear(vocab, h) + linear(1, h)  # final norm, lm_head, a row
    assert run.decode_bytes_per_token(tiny_model) == pytest.approx(expected)


def test_roofline_uses_the_best_bandwidth_measured():
    res = run.decode_roofline(10.0, 2e9, [20.0, 30.0])
    assert res["memory_read_GBps"] == 30.0
    assert res["roofline_tokens_per_s"] == pytest.approx(15.0)
    assert res["decode_fraction_of_roofline"] == pytest.approx(10.0 / 15.0)
    assert "decode_fraction_of_roofline" not in run.decode_roofline(10.0, 2e9, [])


def fake_llama_bench(tmp_path, argv_file):
    """A stand-in llama-bench: appends its arguments to argv_file (a JSON line a call) and prints
    the real output of the fixture."""
    fake = tmp_path / "llama-bench"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(argv_file)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                    f"print(open({str(FIXTURE)!r}).read())\n")
    fake.chmod(0o755)
    return fake


def test_comparison_gives_llama_bench_pensieves_lengths_and_threads(tmp_path, pensieve_bin, tiny_model, records):
    """The whole comparison with a stand-in llama-bench that records its arguments and answers
    with the real output: same lengths and threads on both sides, ratios from both runs."""
    argv_file = tmp_path / "argv.json"
    fake = fake_llama_bench(tmp_path, argv_file)
    args = argparse.Namespace(binary=str(pensieve_bin), threads=2, repeats=1, timeout=300,
                              llama_bench=str(fake), gguf="model.gguf", llama_prompt_tokens=512,
                              llama_gen_tokens=128)
    assert run.threads_env(args)["PENSIEVE_THREADS"] == "2"  # what every Pensieve process gets
    res = run.llama_cpp_comparison(args, tiny_model)
    (argv,) = [json.loads(line) for line in argv_file.read_text().splitlines()]
    assert argv == ["-m", "model.gguf", "-p", "512", "-n", "128", "-t", "2", "-r", "1", "-o", "json"]
    assert res["llama_cpp"]["records"] == records
    assert (res["pensieve"]["prompt_tokens"], res["pensieve"]["generated_tokens"]) == (512, 128)
    assert (res["pensieve_tg"]["prompt_tokens"], res["pensieve_tg"]["generated_tokens"]) == (1, 128)
    assert res["ratios"] == run.ratios_vs_llama_cpp(res["pensieve"], res["pensieve_tg"],
                                                    run.llama_bench_figures(records, 512, 128))
    for key in ("pensieve", "pensieve_tg"):
        roofline = res[key]["roofline"]
        assert roofline["decode_bytes_per_token_GB"] == pytest.approx(run.decode_bytes_per_token(tiny_model) / 1e9)
        assert len(roofline["memory_read_GBps_measured"]) == 2
        assert 0 < roofline["decode_fraction_of_roofline"]


def test_rounds_alternate_and_pool_every_repetition(tmp_path, pensieve_bin, tiny_model, records):
    """--rounds 2: Pensieve and llama-bench alternate twice; the figures are over both rounds."""
    argv_file = tmp_path / "argv.json"
    fake = fake_llama_bench(tmp_path, argv_file)
    # The fixture's tests are pp512/tg128, so those are the lengths asked for.
    args = argparse.Namespace(binary=str(pensieve_bin), threads=2, repeats=2, timeout=300, rounds=2,
                              llama_bench=str(fake), gguf="model.gguf", llama_prompt_tokens=512,
                              llama_gen_tokens=128)
    res = run.llama_cpp_comparison(args, tiny_model)
    assert len(argv_file.read_text().splitlines()) == 2 and res["rounds"] == 2
    for key in ("pensieve", "pensieve_tg"):
        runs = res[key]["runs"]
        assert len(runs) == 4  # 2 rounds x 2 repeats
        assert res[key]["decode_tokens_per_s"] == max(r["decode_tokens_per_s"] for r in runs)
        assert len(res[key]["roofline"]["memory_read_GBps_measured"]) == 4
    merged = res["llama_cpp"]["records"]
    assert len(merged) == 2  # one pp and one tg record, each with both rounds' repetitions
    for r in merged:
        (single,) = [o for o in records if (o["n_prompt"], o["n_gen"]) == (r["n_prompt"], r["n_gen"])]
        assert r["samples_ts"] == single["samples_ts"] * 2
        assert r["avg_ts"] == pytest.approx(sum(single["samples_ts"]) / len(single["samples_ts"]))
    assert res["ratios"] == run.ratios_vs_llama_cpp(res["pensieve"], res["pensieve_tg"],
                                                    run.llama_bench_figures(merged, 512, 128))
