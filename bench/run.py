#!/usr/bin/env python3
"""`make bench`: Pensieve against its references on the same model in one run, one JSON file.

Engine: `pensieve bench` and mlx-lm (native dtype and float32) on a random-weight Phi-3 built by
tools/make_test_model.py — the mid-size preset by default, the full Phi-3-mini-128k shapes with
--full. Tokenizer: Pensieve and Hugging Face `tokenizers` on the same text. Ratios are
Pensieve / reference. Every engine figure also gets its decode roofline: the memory read bandwidth
measured beside it divided by the bytes one decode step reads. Optional: a llama.cpp `llama-bench`
binary and a Q4_0 GGUF of the same shapes, both made by hand outside the repo (--llama-bench,
--gguf): pp512 and tg128 against `pensieve bench -p 512 -n 128` and `-p 1 -n 128` on the
full-size model, same threads. See bench/README.md.
"""
import argparse
import datetime
import json
import os
import struct
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_test_model  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")


def model_dir(preset, quant):
    out = ROOT / "bench" / ".models" / f"{preset}-{quant}"
    if not (out / "config.json").exists():
        print(f"bench: building {preset} {quant} model in {out}", file=sys.stderr)
        make_test_model.build(out, preset=preset, quant=quant)
    return out


# ---------------------------------------------------------------------------------------------
# Figures computed from the runs' output (pure, tested in tests/python/test_bench_run.py)


def decode_bytes_per_token(model):
    """Bytes one decode step reads from an MLX model folder's safetensors.

    Every tensor is read in full (linear weights with lm_head, their scales and biases, the
    norms) except the embedding table, of which a step reads one row (of its codes, scales and
    biases). With tied embeddings the table is lm_head as well and is read in full. The KV cache is left out.
    """
    tensors = {}
    for path in sorted(Path(model).glob("*.safetensors")):
        with open(path, "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        header.pop("__metadata__", None)
        tensors.update(header)
    if not tensors:
        raise ValueError(f"no safetensors in {model}")
    tied = not any(name.startswith("lm_head.") for name in tensors)
    total = 0.0
    for name, info in tensors.items():
        nbytes = info["data_offsets"][1] - info["data_offsets"][0]
        if name.startswith("model.embed_tokens.") and not tied:
            nbytes /= info["shape"][0]
        total += nbytes
    return total


def decode_roofline(decode_tokens_per_s, bytes_per_token, bandwidths_gbps):
    """Decode speed as a fraction of bandwidth / bytes per token; the best bandwidth seen is used
    (the highest roofline, so the lowest fraction)."""
    res = {"decode_bytes_per_token_GB": bytes_per_token / 1e9,
           "memory_read_GBps_measured": list(bandwidths_gbps)}
    if bandwidths_gbps:
        bandwidth = max(bandwidths_gbps)
        res["memory_read_GBps"] = bandwidth
        res["roofline_tokens_per_s"] = bandwidth * 1e9 / bytes_per_token
        res["decode_fraction_of_roofline"] = decode_tokens_per_s / res["roofline_tokens_per_s"]
    return res


def llama_bench_figures(records, prompt_tokens, gen_tokens):
    """pp and tg speeds from llama-bench's `-o json` records (one record per test).

    A pp test has n_prompt = P and n_gen = 0, a tg test n_prompt = 0 and n_gen = N (n_depth 0).
    "best" is the fastest repetition (as `pensieve bench` reports its best run), "mean" is
    llama-bench's own avg_ts.
    """
    out = {}
    for label, want in ((f"pp{prompt_tokens}", (prompt_tokens, 0)), (f"tg{gen_tokens}", (0, gen_tokens))):
        found = [r for r in records if (r["n_prompt"], r["n_gen"]) == want and r.get("n_depth", 0) == 0]
        if len(found) != 1:
            raise ValueError(f"llama-bench output has {len(found)} {label} records, expected one")
        r = found[0]
        out[label] = {"best_tokens_per_s": max(r["samples_ts"]), "mean_tokens_per_s": r["avg_ts"],
                      "stddev_tokens_per_s": r["stddev_ts"], "threads": r["n_threads"],
                      "model_type": r["model_type"], "model_size": r["model_size"]}
    return out


def ratios_vs_llama_cpp(pensieve_pp, pensieve_tg, llama):
    """Pensieve / llama.cpp, best run against best repetition and mean against mean.

    Prefill: Pensieve's P-token prompt against ppP. Decode: Pensieve's N tokens after a one-token
    prompt against tgN, which also starts from an empty context; `decode_after_prompt_...` is
    Pensieve's decode after the P-token prompt (a KV cache of P to P + N positions to read).
    """
    (pp, pp_fig), = [(k, v) for k, v in llama.items() if k.startswith("pp") and k[2:].isdigit()]
    (tg, tg_fig), = [(k, v) for k, v in llama.items() if k.startswith("tg") and k[2:].isdigit()]

    def mean(res, key):
        return sum(r[key] for r in res["runs"]) / len(res["runs"])

    pairs = {f"prefill_tokens_per_s_vs_llama_cpp_{pp}": (pensieve_pp, "prefill_tokens_per_s", pp_fig),
             f"decode_tokens_per_s_vs_llama_cpp_{tg}": (pensieve_tg, "decode_tokens_per_s", tg_fig),
             f"decode_after_prompt_tokens_per_s_vs_llama_cpp_{tg}": (pensieve_pp, "decode_tokens_per_s", tg_fig)}
    ratios = {}
    for name, (res, key, fig) in pairs.items():
        ratios[name] = res[key] / fig["best_tokens_per_s"]
        ratios[name + "_means"] = mean(res, key) / fig["mean_tokens_per_s"]
    return ratios


# ---------------------------------------------------------------------------------------------
# Runs


def run_json(cmd, timeout, env=None):
    print("bench: " + " ".join(map(str, cmd)), file=sys.stderr)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:]}
    return json.loads(proc.stdout)


def threads_env(args):
    """The environment of every Pensieve process: its pool gets exactly args.threads threads."""
    return dict(os.environ, PENSIEVE_THREADS=str(args.threads))


def pensieve_bench(args, model, prompt_tokens, gen_tokens):
    """`pensieve bench` with the decode roofline of the same run (bandwidth measured beside it)."""
    before = memory_bandwidth(args)
    res = run_json([args.binary, "bench", "-m", model, "-p", prompt_tokens, "-n", gen_tokens,
                    "-r", args.repeats, "--json"], args.timeout, env=threads_env(args))
    after = memory_bandwidth(args)
    if "error" not in res:
        res["roofline"] = decode_roofline(res["decode_tokens_per_s"], decode_bytes_per_token(model),
                                          [g for g in (before, after) if g])
    return res


def memory_bandwidth(args):
    """GB/s from pensieve_kernels_bench --memory-only, or None if it is missing or fails."""
    if not kernels_binary(args).exists():
        return None
    res = run_json([kernels_binary(args), "--memory-only"], args.timeout, env=threads_env(args))
    return res.get("memory_read_GBps")


def kernels_binary(args):
    return Path(args.binary).parent / "pensieve_kernels_bench"


def engine_bench(args, preset, prompt_tokens, gen_tokens, model=None):
    model = model or model_dir(preset, "4bit-g64")
    res = {"model": {"preset": preset, "quant": "4bit-g64", "path": str(model)}}
    res["pensieve"] = pensieve_bench(args, model, prompt_tokens, gen_tokens)
    mlx_size = ["--prompt-tokens", prompt_tokens, "--gen-tokens", gen_tokens, "--repeats", args.repeats]
    res["mlx_lm_float32"] = run_json([PY, ROOT / "bench" / "mlx_lm_bench.py", model, "--float32", *mlx_size], args.timeout)
    if args.with_native_mlx:
        res["mlx_lm_native"] = run_json([PY, ROOT / "bench" / "mlx_lm_bench.py", model, *mlx_size], args.timeout)
    ratios = {}
    p = res["pensieve"]
    for ref in ("mlx_lm_float32", "mlx_lm_native"):
        r = res.get(ref, {})
        if "error" in p or not r or "error" in r:
            continue
        for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
            if r.get(key):
                ratios[f"{key}_vs_{ref}"] = p[key] / r[key]
        if r.get("peak_memory_bytes"):
            ratios[f"peak_memory_vs_{ref}"] = p["peak_memory_bytes"] / r["peak_memory_bytes"]
    res["ratios"] = ratios
    return res


def merged_pensieve(results, model):
    """Several `pensieve bench --json` results of one configuration as one: every run kept, the
    best of each speed (as `pensieve bench` reports its best run), the roofline against the best
    bandwidth measured around any of them."""
    for r in results:
        if "error" in r:
            return r
    if len(results) == 1:
        return results[0]
    out = dict(results[0])
    out["runs"] = [run for r in results for run in r["runs"]]
    out["repeats"] = len(out["runs"])
    for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
        out[key] = max(run[key] for run in out["runs"])
    out["time_to_first_token_s"] = min(run["time_to_first_token_s"] for run in out["runs"])
    for key in ("peak_rss_bytes", "peak_memory_bytes"):
        out[key] = max(r[key] for r in results)
    bandwidths = [g for r in results for g in r.get("roofline", {}).get("memory_read_GBps_measured", [])]
    out["roofline"] = decode_roofline(out["decode_tokens_per_s"], decode_bytes_per_token(model), bandwidths)
    return out


def merged_llama_records(records):
    """llama-bench records of several invocations as one record per test: the repetitions of
    all of them (samples_ts, samples_ns), with avg_ts and stddev_ts over them all."""
    merged = {}
    for r in records:
        key = (r["n_prompt"], r["n_gen"], r.get("n_depth", 0))
        if key not in merged:
            merged[key] = dict(r, samples_ts=list(r["samples_ts"]), samples_ns=list(r.get("samples_ns", [])))
        else:
            merged[key]["samples_ts"] += r["samples_ts"]
            merged[key]["samples_ns"] += r.get("samples_ns", [])
    for r in merged.values():
        ts = r["samples_ts"]
        r["avg_ts"] = statistics.fmean(ts)
        r["stddev_ts"] = statistics.stdev(ts) if len(ts) > 1 else 0.0
    return list(merged.values())


def llama_cpp_comparison(args, model):
    """llama-bench pp/tg on the GGUF and `pensieve bench` on the MLX model: same lengths, threads.

    With --rounds K the three runs (Pensieve's ppP, Pensieve's tgN, llama-bench) alternate K
    times, so that a machine whose speed drifts (a VM beside other tenants) slows both sides
    alike; every repetition of every round counts.
    """
    p, n = args.llama_prompt_tokens, args.llama_gen_tokens
    rounds = max(1, getattr(args, "rounds", 1))
    res = {"prompt_tokens": p, "gen_tokens": n, "threads": args.threads, "rounds": rounds}
    cmd = [args.llama_bench, "-m", args.gguf, "-p", p, "-n", n, "-t", args.threads, "-r", args.repeats,
           "-o", "json"]
    res["llama_bench_command"] = " ".join(map(str, cmd))
    after_prompt, short_prompt, records = [], [], []
    for _ in range(rounds):
        after_prompt.append(pensieve_bench(args, model, p, n))
        # tgN starts from an empty context: the like-for-like decode figure follows a 1-token prompt.
        short_prompt.append(pensieve_bench(args, model, 1, n))
        got = run_json(cmd, args.timeout)
        if isinstance(got, dict):  # {"error": ...}
            res["llama_cpp"] = got
            return res
        records += got
    res["pensieve"] = merged_pensieve(after_prompt, model)
    res["pensieve_tg"] = merged_pensieve(short_prompt, model)
    if rounds > 1:
        records = merged_llama_records(records)
    try:
        res["llama_cpp"] = llama_bench_figures(records, p, n)
    except (ValueError, KeyError, TypeError) as e:
        res["llama_cpp"] = {"error": f"unexpected llama-bench output: {e!r}", "records": records}
        return res
    res["llama_cpp"]["records"] = records
    if "error" not in res["pensieve"] and "error" not in res["pensieve_tg"]:
        res["ratios"] = ratios_vs_llama_cpp(res["pensieve"], res["pensieve_tg"], res["llama_cpp"])
    return res


def server_bench(args):
    model = model_dir("mid", "4bit-g64")
    out = Path(args.out) / "server.json"
    # With --full, the start-up figure of the full-size model too.
    full_model = args.full_model or model_dir("phi3-mini-128k", "4bit-g64")
    full = ["--full-model", full_model] if args.full else []
    proc = subprocess.run([PY, ROOT / "bench" / "server_bench.py", "--model", model, "--binary", args.binary,
                           "--out", out, "--repeats", "1", *full], capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def kernels_bench(args):
    binary = kernels_binary(args)
    if not binary.exists():
        return {"error": f"{binary} missing (cmake --build build --target pensieve_kernels_bench)"}
    proc = subprocess.run([str(binary), "3"], capture_output=True, text=True, timeout=args.timeout,
                          env=threads_env(args))
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout)


def tokenizer_bench(args):
    script = ROOT / "bench" / "tokenizer_bench.py"
    if not script.exists():
        return {"error": "bench/tokenizer_bench.py missing"}
    out = ROOT / "bench" / "results" / "tokenizer.json"
    proc = subprocess.run([PY, script, "--binary", args.binary, "--out", out],
                          capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def kv_memory_bench(args):
    """Bytes a position, KV size and peak RSS per KV format at 4k-128k (bench/kv_memory.py)."""
    out = Path(args.out) / "kv_memory.json"
    proc = subprocess.run([PY, ROOT / "bench" / "kv_memory.py", "--binary", args.binary, "--out", out],
                          capture_output=True, text=True, timeout=args.timeout * 4)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def kv_quality_bench(args):
    """Logit difference of float16, 8-bit and 4-bit KV caches against a float32 one (bench/kv_quality.py)."""
    out = Path(args.out) / "kv_quality.json"
    proc = subprocess.run([PY, ROOT / "bench" / "kv_quality.py", "--binary", args.binary, "--out", out],
                          capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-2000:]}
    return json.loads(out.read_text())


def default_threads():
    return int(os.environ.get("PENSIEVE_THREADS") or 0) or os.cpu_count() or 1


def fraction_of(pensieve_result):
    return pensieve_result.get("roofline", {}).get("decode_fraction_of_roofline")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=str(ROOT / "build" / "pensieve"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--full", action="store_true", help="also the full-size Phi-3-mini-128k shapes")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full-prompt-tokens", type=int, default=64)
    ap.add_argument("--full-gen-tokens", type=int, default=8)
    ap.add_argument("--with-native-mlx", action="store_true",
                    help="also mlx-lm in the checkpoint dtype (float16 is emulated on x86 CPUs: very slow)")
    ap.add_argument("--full-model", help="an existing full-size MLX 4-bit model folder (default: build one "
                    "in bench/.models with tools/make_test_model.py)")
    ap.add_argument("--threads", type=int, default=default_threads(),
                    help="threads for Pensieve (PENSIEVE_THREADS) and llama-bench (-t); default: "
                    "$PENSIEVE_THREADS, else one per CPU, as Pensieve's own default")
    ap.add_argument("--llama-bench", help="path of a llama-bench binary built outside the repo")
    ap.add_argument("--gguf", help="Q4_0 GGUF of the same shapes for llama-bench (tools/make_test_gguf.py)")
    ap.add_argument("--llama-prompt-tokens", type=int, default=512, help="llama-bench -p and Pensieve's -p")
    ap.add_argument("--llama-gen-tokens", type=int, default=128, help="llama-bench -n and Pensieve's -n")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate Pensieve and llama-bench this many times (each --repeats long)")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--kv-quality", action="store_true", help="also bench/kv_quality.py (4k-token prompts)")
    ap.add_argument("--kv-memory", action="store_true", help="also bench/kv_memory.py (full size, 4k-128k contexts)")
    args = ap.parse_args()
    if bool(args.llama_bench) != bool(args.gguf):
        ap.error("--llama-bench and --gguf go together")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                          "load_average": os.getloadavg()},
              "threads": args.threads,
              "tokenizer": tokenizer_bench(args),
              "kernels": kernels_bench(args),
              "engine": {"mid": engine_bench(args, "mid", args.prompt_tokens, args.gen_tokens)},
              "server": server_bench(args)}
    result["decode_fraction_of_roofline"] = fraction_of(result["engine"]["mid"]["pensieve"])
    if args.full or args.llama_bench:
        full = engine_bench(args, "phi3-mini-128k", args.full_prompt_tokens, args.full_gen_tokens,
                            model=args.full_model)
        result["engine"]["phi3-mini-128k"] = full
        result["decode_fraction_of_roofline"] = fraction_of(full["pensieve"])
        if args.llama_bench:
            full["llama_cpp"] = llama_cpp_comparison(args, Path(full["model"]["path"]))
            # The longest decode with the least KV cache: the weights are nearly all it reads.
            result["decode_fraction_of_roofline"] = fraction_of(full["llama_cpp"]["pensieve_tg"])
    if args.kv_quality:
        result["kv_quality"] = kv_quality_bench(args)
    if args.kv_memory:
        result["kv_memory"] = kv_memory_bench(args)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = json.dumps(result, indent=2)
    (out_dir / f"bench-{stamp}.json").write_text(text)
    (out_dir / "latest.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
