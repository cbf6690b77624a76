#!/usr/bin/env python3
"""Server benchmark: `pensieve serve` under concurrent streaming clients, one JSON result.

- Aggregate decode throughput and time to first token with 1, 4, 16 and 32 simultaneous
  streams (POST /v1/messages, stream: true), each stream asking for --gen-tokens tokens after a
  prompt of its own (distinct from the first token on, so the prefix cache plays no part).
- Prefix cache: time to first token for a prompt with a long system prompt seen for the first
  time (cold) and for the same system prompt with another question (hit).
- Overhead: what the server adds to the engine, one request at a time (streamed
  /v1/chat/completions, whose last chunk carries the engine's `timings`): the client's time to
  first token minus the engine's own (submission to first token) for the same request; the
  client's decode time (first to last chunk) against the engine's (first to last token), and the
  engine's per-token decode time streamed against not streamed; and start-up, from launching
  `pensieve serve` to /health answering 200, page cache warm, for the test model and with
  --full-model for a full-size one. Targets are in the JSON with `meets_target`.

    .venv/bin/python bench/server_bench.py --model DIR --binary build/pensieve --out FILE

Aggregate decode tokens/s counts the tokens after each stream's first one, over the time from
the first first-token to the last stream's end; wall tokens/s counts all tokens over the whole
run from the first request sent.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


class ServeProcess:
    def __init__(self, binary, model, flags):
        self.log = tempfile.NamedTemporaryFile(prefix="pensieve-bench-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([str(binary), "serve", "-m", str(model), "--port", "0", *flags],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 120
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            m = re.search(r"listening on [\w.:]+?:(\d+)\b", Path(self.log.name).read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError("pensieve serve exited:\n" + Path(self.log.name).read_text(errors="replace"))
            time.sleep(0.05)
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        self.health = json.loads(r.read())
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("pensieve serve never became ready")

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def stream_once(port: int, body: dict) -> dict:
    """One streamed /v1/messages: send time, first-token time, end time, tokens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    sent = time.perf_counter()
    conn.request("POST", "/v1/messages", body=json.dumps({**body, "stream": True}).encode(),
                 headers={"content-type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise RuntimeError(f"HTTP {res.status}: {res.read()[:500]!r}")
    first = None
    tokens = 0
    event = None
    for raw in res:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            if event == "content_block_delta" and first is None:
                first = time.perf_counter()
            elif event == "message_delta":
                tokens = json.loads(line[6:])["usage"]["output_tokens"]
            elif event == "error":
                raise RuntimeError(line)
    end = time.perf_counter()
    conn.close()
    return {"sent": sent, "first": first if first is not None else end, "end": end, "tokens": tokens}


def run_streams(port: int, bodies: list[dict]) -> list[dict]:
    results: list[dict | None] = [None] * len(bodies)
    errors = []
    barrier = threading.Barrier(len(bodies))

    def worker(i):
        try:
            barrier.wait()
            results[i] = stream_once(port, bodies[i])
        except Exception as e:  # noqa: BLE001 - reported as the run's failure
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return results  # type: ignore[return-value]


def chat_stream_once(port: int, body: dict) -> dict:
    """One streamed /v1/chat/completions on a fresh connection, timed from just before sending:
    the first chunk with text or a finish reason, the last such chunk, and the timings of the
    choice's last chunk."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    sent = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=json.dumps({**body, "stream": True}).encode(),
                 headers={"content-type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise RuntimeError(f"HTTP {res.status}: {res.read()[:500]!r}")
    first = last = None
    timings = None
    for raw in res:
        line = raw.decode().rstrip("\r\n")
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if "error" in chunk:
            raise RuntimeError(line)
        choice = chunk["choices"][0] if chunk.get("choices") else None
        if choice and (choice["delta"].get("content") or choice.get("finish_reason")):
            last = time.perf_counter()
            first = first or last
        if choice and choice.get("finish_reason"):
            timings = chunk["timings"]
    conn.close()
    return {"ttft_ms": 1000 * (first - sent), "decode_ms": 1000 * (last - first), "timings": timings}


def chat_once(port: int, body: dict) -> dict:
    """One non-streamed /v1/chat/completions: its timings."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                 headers={"content-type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    if res.status != 200:
        raise RuntimeError(f"HTTP {res.status}: {data[:500]!r}")
    return json.loads(data)["timings"]


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "min": ordered[0], "max": ordered[-1]}


def engine_ttft_ms(t: dict) -> float:
    """The engine's own time to first token: from submission (after parsing and tokenizing)."""
    return t["first_token_ms"] - t["prepare_ms"]


TTFT_OVERHEAD_TARGET_MS = 5.0
DECODE_OVERHEAD_TARGET_PCT = 2.0
STARTUP_TARGET_S = 2.0


def ttft_overhead(server: "ServeProcess", args) -> dict:
    """Batch 1, small prompts of their own, one token each (so the first chunk follows the first
    token whatever its text): client TTFT against the engine's for the same request, on
    /v1/chat/completions (overhead_ms) and /v1/messages (anthropic_overhead_ms)."""
    client, engine, http_part, overhead, receipt = [], [], [], [], []
    for i in range(args.overhead_repeats):
        r = chat_stream_once(server.port, {"model": "bench", "max_tokens": 1, "temperature": 0,
                                           "messages": [{"role": "user", "content": f"[ttft {i}] Hello there."}]})
        t = r["timings"]
        client.append(r["ttft_ms"])
        engine.append(engine_ttft_ms(t))
        overhead.append(r["ttft_ms"] - engine_ttft_ms(t))
        http_part.append(t["prepare_ms"])
        receipt.append(r["ttft_ms"] - t["first_token_ms"])
    # The Anthropic route has no timings in its body: the engine's TTFT of each request (one at
    # a time) is the growth of the /metrics histogram's sum.
    anthropic = []
    for i in range(args.overhead_repeats):
        before = server.metrics()["pensieve_time_to_first_token_seconds_sum"]
        r = stream_once(server.port, {"model": "bench", "max_tokens": 1, "temperature": 0,
                                      "messages": [{"role": "user", "content": f"[ttft a{i}] Hello there."}]})
        engine_ms = 1000 * (server.metrics()["pensieve_time_to_first_token_seconds_sum"] - before)
        anthropic.append(1000 * (r["first"] - r["sent"]) - engine_ms)
    return {
        "requests": args.overhead_repeats,
        "anthropic_overhead_ms": percentiles(anthropic),
        "client_ttft_ms": percentiles(client),
        "engine_ttft_ms": percentiles(engine),
        # client TTFT minus engine TTFT: everything outside the engine
        "overhead_ms": percentiles(overhead),
        # of that, the server's part before the engine had the request (body, template, tokenizer)
        "prepare_ms": percentiles(http_part),
        # and what lies outside the server's clock (connect, send, first chunk back to the client)
        "outside_server_clock_ms": percentiles(receipt),
        "target_ms": TTFT_OVERHEAD_TARGET_MS,
        "meets_target": max(statistics.median(overhead), statistics.median(anthropic)) < TTFT_OVERHEAD_TARGET_MS,
    }


def decode_overhead(server: "ServeProcess", args) -> dict:
    """Streamed and non-streamed requests of the same length, interleaved: the client's decode
    time against the engine's for the same streamed requests, and the engine's per-token time
    streamed against not streamed (what the SSE writing costs the engine thread, if anything)."""
    stream_pct, stream_tok, plain_tok = [], [], []
    n = args.overhead_gen_tokens
    for i in range(args.overhead_decode_repeats):
        body = {"model": "bench", "max_tokens": n, "temperature": 0,
                "messages": [{"role": "user", "content": f"[decode {i}] " + filler(args.prompt_words, f"d{i}-")}]}
        r = chat_stream_once(server.port, body)
        t = r["timings"]
        if t["predicted_n"] > 1 and t["predicted_ms"] > 0:
            stream_pct.append(100 * (r["decode_ms"] - t["predicted_ms"]) / t["predicted_ms"])
            stream_tok.append(t["predicted_per_token_ms"])
        body["messages"][0]["content"] = f"[plain {i}] " + filler(args.prompt_words, f"p{i}-")
        t = chat_once(server.port, body)
        if t["predicted_n"] > 1:
            plain_tok.append(t["predicted_per_token_ms"])
    if not stream_pct or not plain_tok:
        return {"error": "no request produced more than one token"}
    vs_engine = statistics.median(stream_pct)
    vs_plain = 100 * (statistics.median(stream_tok) - statistics.median(plain_tok)) / statistics.median(plain_tok)
    return {
        "requests": args.overhead_decode_repeats,
        "gen_tokens": n,
        # (client first-to-last chunk - engine first-to-last token) / engine, per request
        "stream_vs_engine_pct": percentiles(stream_pct),
        "engine_per_token_ms_streamed": statistics.median(stream_tok),
        "engine_per_token_ms_not_streamed": statistics.median(plain_tok),
        "streamed_vs_not_streamed_pct": vs_plain,
        "target_pct": DECODE_OVERHEAD_TARGET_PCT,
        "meets_target": vs_engine < DECODE_OVERHEAD_TARGET_PCT,
        "streamed_vs_not_streamed_meets_target": vs_plain < DECODE_OVERHEAD_TARGET_PCT,
    }


def startup_once(binary, model) -> dict:
    """Launch to /health 200; the server's own account of its stages from its debug log."""
    log = tempfile.NamedTemporaryFile(prefix="pensieve-startup-", suffix=".log", delete=False)
    start = time.perf_counter()
    proc = subprocess.Popen([str(binary), "serve", "-m", str(model), "--port", "0", "--log-level", "debug"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    port = listening = ready = None
    try:
        while ready is None:
            if proc.poll() is not None:
                raise RuntimeError("pensieve serve exited:\n" + Path(log.name).read_text(errors="replace"))
            if time.perf_counter() - start > 300:
                raise RuntimeError("pensieve serve never became ready")
            if port is None:
                m = re.search(r"listening on [\w.:]+?:(\d+)\b", Path(log.name).read_text(errors="replace"))
                if not m:
                    time.sleep(0.002)
                    continue
                port, listening = int(m.group(1)), time.perf_counter() - start
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        ready = time.perf_counter() - start
            except OSError:
                time.sleep(0.005)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = Path(log.name).read_text(errors="replace")
    os.unlink(log.name)
    stages = {}
    m = re.search(r"start-up: (.*)", text)
    if m:
        for name, secs in re.findall(r"(\w+) ([\d.]+) s", m.group(1)):
            stages[name] = float(secs)
    return {"ready_s": ready, "listening_s": listening, "stages_s": stages}


def startup(binary, model, repeats: int) -> dict:
    startup_once(binary, model)  # warms the page cache
    runs = [startup_once(binary, model) for _ in range(repeats)]
    ready = [r["ready_s"] for r in runs]
    best = min(runs, key=lambda r: r["ready_s"])
    return {
        "model": str(model),
        "repeats": repeats,
        "ready_s": percentiles(ready),
        "listening_s": statistics.median(r["listening_s"] for r in runs),
        "stages_s_fastest_run": best["stages_s"],
        "target_s": STARTUP_TARGET_S,
        "meets_target": statistics.median(ready) <= STARTUP_TARGET_S,
    }


def filler(words: int, seed: str) -> str:
    return " ".join(f"{seed}{i % 97} lorem ipsum" for i in range(words // 3 + 1))


def concurrency_level(port: int, streams: int, args, run_id: int) -> dict:
    bodies = [{"model": "bench", "max_tokens": args.gen_tokens, "temperature": args.temperature,
               "messages": [{"role": "user", "content": f"[{run_id}-{i}] " + filler(args.prompt_words, f"w{i}-")}]}
              for i in range(streams)]
    results = run_streams(port, bodies)
    start = min(r["sent"] for r in results)
    first = min(r["first"] for r in results)
    end = max(r["end"] for r in results)
    total = sum(r["tokens"] for r in results)
    decode = sum(max(r["tokens"] - 1, 0) for r in results)
    ttft = sorted(r["first"] - r["sent"] for r in results)
    return {
        "streams": streams,
        "output_tokens": total,
        "aggregate_decode_tokens_per_s": decode / (end - first) if end > first else None,
        "wall_tokens_per_s": total / (end - start),
        "ttft_s": {"p50": statistics.median(ttft), "max": ttft[-1], "min": ttft[0]},
        "wall_s": end - start,
    }


def prefix_cache(server: ServeProcess, args) -> dict:
    cold, hit, cached = [], [], []
    for rep in range(args.repeats):
        system = f"[prefix run {rep} {time.time_ns()}] " + filler(args.prefix_words, "sys")
        for question, into in (("What is the first rule?", cold), ("And the second?", hit)):
            before = server.metrics().get("pensieve_prefix_cache_tokens_total", 0)
            r = stream_once(server.port, {"model": "bench", "max_tokens": 1, "system": system,
                                          "messages": [{"role": "user", "content": question}]})
            into.append(r["first"] - r["sent"])
            if into is hit:
                cached.append(server.metrics().get("pensieve_prefix_cache_tokens_total", 0) - before)
    return {
        "system_prompt_words": args.prefix_words,
        "cold_ttft_s": statistics.median(cold),
        "hit_ttft_s": statistics.median(hit),
        "cached_tokens": statistics.median(cached),
        "speedup": statistics.median(cold) / statistics.median(hit),
        "repeats": args.repeats,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--binary", default="build/pensieve")
    p.add_argument("--out", help="JSON output file (default: stdout)")
    p.add_argument("--concurrency", default="1,4,16,32")
    p.add_argument("--gen-tokens", type=int, default=64)
    p.add_argument("--prompt-words", type=int, default=8, help="words of each stream's prompt (short: the decode is measured)")
    p.add_argument("--prefix-words", type=int, default=1500, help="words of the shared system prompt")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--overhead-repeats", type=int, default=40, help="requests for the TTFT overhead")
    p.add_argument("--overhead-decode-repeats", type=int, default=8, help="request pairs for the decode overhead")
    p.add_argument("--overhead-gen-tokens", type=int, default=48)
    p.add_argument("--startup-repeats", type=int, default=3)
    p.add_argument("--full-model", help="a full-size model directory: its start-up time too")
    args = p.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    server = ServeProcess(args.binary, args.model, ["--parallel", str(max(levels)), "--max-queue", "256"])
    try:
        stream_once(server.port, {"model": "bench", "max_tokens": 4, "messages": [{"role": "user", "content": "warm up"}]})
        result = {
            "bench": "server",
            "model": str(args.model),
            "binary": str(args.binary),
            "cpu_count": os.cpu_count(),
            "kernels": os.environ.get("PENSIEVE_CPU_KERNELS", "default"),
            "gen_tokens": args.gen_tokens,
            "temperature": args.temperature,
            "context_size": server.health.get("context_size"),
            "overhead": {"ttft": ttft_overhead(server, args), "decode": decode_overhead(server, args)},
            "concurrency": [concurrency_level(server.port, c, args, i) for i, c in enumerate(levels)],
            "prefix_cache": prefix_cache(server, args),
        }
        delivery = server.metrics()
        count = delivery.get("pensieve_stream_delivery_seconds_count", 0)
        if count:
            result["overhead"]["stream_delivery_mean_ms"] = 1000 * delivery["pensieve_stream_delivery_seconds_sum"] / count
    finally:
        rc = server.stop()
    # Alone, with no other server running beside it.
    result["overhead"]["startup"] = {"test_model": startup(args.binary, args.model, args.startup_repeats)}
    if args.full_model:
        result["overhead"]["startup"]["full_model"] = startup(args.binary, args.full_model, args.startup_repeats)
    result["overhead"]["meets_target"] = all(
        part["meets_target"] for part in (result["overhead"]["ttft"], result["overhead"]["decode"],
                                          *result["overhead"]["startup"].values()) if "meets_target" in part)
    result["server_exit_status"] = rc
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
