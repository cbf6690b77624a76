#!/usr/bin/env python3
"""Aggregate decode throughput of a running `pensieve serve` at several concurrency levels.

For each level C, C streaming /v1/completions requests start together (distinct random prompts of
ordinary vocabulary ids, greedy, max_tokens tokens each) and every token's arrival time is noted.
Reported per level:
  - end_to_end_tokens_per_s: all generated tokens / wall time from the first request to the last
    stream's end (prefill of every prompt included);
  - steady_decode_tokens_per_s: tokens that arrived while all C streams were decoding (after the
    last stream's first token, before the first stream's end) / that window;
  - per_stream_decode_tokens_per_s: median over streams of (tokens - 1) / (last - first arrival).

    python3 bench/gpu/server_bench.py --port 8090 --levels 1 4 16 32 --max-tokens 128
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time


def stream_one(port: int, prompt: list[int], max_tokens: int, out: dict) -> None:
    body = json.dumps({"model": "bench", "prompt": prompt, "max_tokens": max_tokens,
                       "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    out["start"] = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        out["error"] = f"HTTP {resp.status}: {resp.read()[:300]!r}"
        return
    arrivals = []
    usage = None
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            usage = chunk["usage"]
        if chunk.get("choices"):
            arrivals.append(time.perf_counter())
    out["end"] = time.perf_counter()
    out["arrivals"] = arrivals
    out["usage"] = usage
    conn.close()


def run_level(port: int, concurrency: int, prompt_tokens: int, max_tokens: int, seed: int) -> dict:
    rng = random.Random(seed)
    prompts = [[rng.randint(100, 31999) for _ in range(prompt_tokens)] for _ in range(concurrency)]
    results = [dict() for _ in range(concurrency)]
    threads = [threading.Thread(target=stream_one, args=(port, p, max_tokens, r))
               for p, r in zip(prompts, results)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.perf_counter()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        return {"concurrency": concurrency, "errors": errors[:3]}
    # Token counts from usage (a chunk may carry more than one token's text, or none).
    tokens = [r["usage"]["completion_tokens"] if r.get("usage") else len(r["arrivals"]) for r in results]
    firsts = [r["arrivals"][0] for r in results if r["arrivals"]]
    lasts = [r["arrivals"][-1] for r in results if r["arrivals"]]
    lo, hi = max(firsts), min(lasts)
    in_window = sum(1 for r in results for a in r["arrivals"] if lo < a <= hi)
    per_stream = [(n - 1) / (r["arrivals"][-1] - r["arrivals"][0])
                  for n, r in zip(tokens, results) if len(r["arrivals"]) > 1]
    return {
        "concurrency": concurrency,
        "prompt_tokens": prompt_tokens,
        "max_tokens": max_tokens,
        "generated_tokens": sum(tokens),
        "wall_s": t1 - t0,
        "end_to_end_tokens_per_s": sum(tokens) / (t1 - t0),
        "steady_window_s": hi - lo,
        "steady_decode_tokens_per_s": in_window / (hi - lo) if hi > lo and in_window else None,
        "per_stream_decode_tokens_per_s": statistics.median(per_stream) if per_stream else None,
        "time_to_first_token_s_max": max(firsts) - t0,
    }


def wait_ready(port: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server on port {port} not ready after {timeout} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 32])
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--wait", type=float, default=300)
    args = ap.parse_args()
    wait_ready(args.port, args.wait)
    run_level(args.port, 1, args.prompt_tokens, 8, seed=99)  # warm-up
    levels = [run_level(args.port, c, args.prompt_tokens, args.max_tokens, seed=c) for c in args.levels]
    base = next((lv for lv in levels if lv["concurrency"] == 1 and "errors" not in lv), None)
    for lv in levels:
        if base and "errors" not in lv and lv["steady_decode_tokens_per_s"] and base["per_stream_decode_tokens_per_s"]:
            lv["steady_vs_batch1"] = lv["steady_decode_tokens_per_s"] / base["per_stream_decode_tokens_per_s"]
    print(json.dumps({"engine": "pensieve serve", "levels": levels}, indent=2))


if __name__ == "__main__":
    main()
