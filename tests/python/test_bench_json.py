"""`pensieve bench --json` against its JSON Schema (the keys bench/run.py and users read), and
the table output by default."""
import json
import re
import subprocess

import jsonschema

RUN = {
    "type": "object",
    "required": ["prefill_tokens_per_s", "decode_tokens_per_s", "time_to_first_token_s"],
    "properties": {
        "prefill_tokens_per_s": {"type": "number", "exclusiveMinimum": 0},
        "decode_tokens_per_s": {"type": "number", "exclusiveMinimum": 0},
        "time_to_first_token_s": {"type": "number", "exclusiveMinimum": 0},
    },
    "additionalProperties": False,
}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["engine", "model", "dtype", "quantization", "parameters", "prompt_tokens", "generated_tokens",
                 "repeats", "load_seconds", "weight_bytes", "prefill_tokens_per_s", "decode_tokens_per_s",
                 "time_to_first_token_s", "peak_memory_bytes", "peak_rss_bytes", "runs", "depth", "kv_bits",
                 "kv_dtype", "kv_bytes", "kv_bytes_per_token"],
    "properties": {
        "engine": {"const": "pensieve"},
        "model": {"type": "string", "minLength": 1},
        "dtype": {"enum": ["float32", "float16", "bfloat16"]},
        "quantization": {"type": "string", "pattern": r"^(Q\d+ g\d+|float32|float16|bfloat16)$"},
        "parameters": {"type": "integer", "minimum": 1},
        "prompt_tokens": {"type": "integer", "minimum": 1},
        "generated_tokens": {"type": "integer", "minimum": 1},
        "repeats": {"type": "integer", "minimum": 1},
        "load_seconds": {"type": "number", "exclusiveMinimum": 0},
        "weight_bytes": {"type": "integer", "minimum": 1},
        "prefill_tokens_per_s": {"type": "number", "exclusiveMinimum": 0},
        "decode_tokens_per_s": {"type": "number", "exclusiveMinimum": 0},
        "time_to_first_token_s": {"type": "number", "exclusiveMinimum": 0},
        "peak_memory_bytes": {"type": "integer", "minimum": 1},
        "peak_rss_bytes": {"type": "integer", "minimum": 1},
        "runs": {"type": "array", "items": RUN, "minItems": 1},
        "depth": {"type": "integer", "minimum": 0},
        "kv_bits": {"enum": [0, 4, 8]},
        "kv_dtype": {"enum": ["float32", "float16", "bfloat16", None]},  # None: quantized
        "kv_bytes": {"type": "integer", "minimum": 1},
        "kv_bytes_per_token": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}


def bench(binary, model, *args):
    proc = subprocess.run([str(binary), "bench", "-m", str(model), "-p", "32", "-n", "8", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bench_json_matches_the_schema(pensieve_bin, tiny_model):
    out = json.loads(bench(pensieve_bin, tiny_model, "-r", "2", "--json"))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(out, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert (out["prompt_tokens"], out["generated_tokens"], out["repeats"], len(out["runs"])) == (32, 8, 2, 2)
    # The top-level figures are the best run's.
    assert out["prefill_tokens_per_s"] == max(r["prefill_tokens_per_s"] for r in out["runs"])
    assert out["decode_tokens_per_s"] == max(r["decode_tokens_per_s"] for r in out["runs"])
    assert out["time_to_first_token_s"] == min(r["time_to_first_token_s"] for r in out["runs"])
    # The tiny preset's own shapes (tools/make_test_model.py), counted by hand from config.json.
    config = json.loads((tiny_model / "config.json").read_text())
    h, inter, layers, vocab = (config[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"))
    kv = config["num_key_value_heads"] * (h // config["num_attention_heads"])
    per_layer = h * (h + 2 * kv) + h * h + 2 * h * inter + inter * h + 2 * h
    embeddings = vocab * h * (1 if config.get("tie_word_embeddings") else 2)
    assert out["parameters"] == layers * per_layer + embeddings + h
    assert out["quantization"] == f"Q{config['quantization']['bits']} g{config['quantization']['group_size']}"


def test_bench_prints_a_table_by_default(pensieve_bin, tiny_model):
    lines = bench(pensieve_bin, tiny_model).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["model", "size", "params", "dtype", "test", "t/s", "ttft ms"]
    assert re.fullmatch(r"\|(?: -+:? \|)+", lines[1]), lines[1]  # Markdown rule; numbers right-aligned
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:4]]
    assert [r[4] for r in rows] == ["pp32", "tg8"]
    for r in rows:
        assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", r[5]), r
    assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", rows[0][6])
    assert any(line.startswith("load ") and "peak memory" in line for line in lines[4:])


def test_bench_json_reports_the_kv_cache_format(pensieve_bin, tiny_model):
    plain = json.loads(bench(pensieve_bin, tiny_model, "--json"))
    full = json.loads(bench(pensieve_bin, tiny_model, "--json", "--kv-dtype", "float32"))
    eight = json.loads(bench(pensieve_bin, tiny_model, "--json", "--kv-bits", "8"))
    assert (plain["kv_bits"], full["kv_bits"], eight["kv_bits"]) == (0, 0, 8)
    # float32 activations on the CPU keep the unquantized cache in float16 unless told otherwise.
    assert (plain["dtype"], plain["kv_dtype"], full["kv_dtype"], eight["kv_dtype"]) == (
        "float32", "float16", "float32", None)
    config = json.loads((tiny_model / "config.json").read_text())
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    values = config["num_hidden_layers"] * 2 * config["num_key_value_heads"] * head_dim  # a position
    assert plain["kv_bytes_per_token"] == 2 * values
    assert full["kv_bytes_per_token"] == 4 * values
    # 8-bit codes plus a float16 scale and bias per group of 32: 9 bits a value against 16.
    assert eight["kv_bytes_per_token"] == values + values // 32 * 4
    # The whole cache of a run (storage grows in steps of 256 positions) at the same rates.
    assert plain["kv_bytes"] == 256 * plain["kv_bytes_per_token"]
    assert full["kv_bytes"] == 2 * plain["kv_bytes"]
