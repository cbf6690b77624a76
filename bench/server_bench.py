#!/usr/bin/env python3
"""Server benchmark: `pensieve serve` under concurrent streaming clients, one JSON result.

- Aggregate decode throughput and time to first token with 1, 4, 16 and 32 simultaneous
  streams (POST /v1/messages, stream: true), each stream asking for --gen-tokens tokens after a
  prompt of its own (distinct from the first token on, so the prefix cache plays no part).
- Prefix cache: time to first token for a prompt with a long system prompt seen for the first
  time (cold) and for the same system prompt with another question (hit).

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
            "concurrency": [concurrency_level(server.port, c, args, i) for i, c in enumerate(levels)],
            "prefix_cache": prefix_cache(server, args),
        }
    finally:
        rc = server.stop()
    result["server_exit_status"] = rc
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
