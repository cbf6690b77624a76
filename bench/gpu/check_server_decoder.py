#!/usr/bin/env python3
"""The server's lone-sequence decode on the CUDA decoder against MLX's path, on a GPU machine.

Starts `pensieve serve` twice on the same model, with PENSIEVE_CUDA_DECODER=1 and =0, sends each
the same scenarios and compares:
  - greedy: one request alone (decoder all the way with =1);
  - staggered: a long greedy request, a second joining mid-way (the first leaves the decoder for
    MLX's batch, and comes back when the second ends), each against its text alone;
  - sampled (seeded, temperature 0.8) and top-5 log-probabilities (host sampling from the
    decoder's logits): well-formed, same first token as MLX's path;
  - a stream dropped after a few tokens (the engine must free the decoder's sequence) followed by
    a greedy request that still gives the text of `greedy`.
Exits non-zero on an HTTP error, a greedy text that differs from MLX's path, or no decoder steps.

    python3 bench/gpu/check_server_decoder.py BUILD/pensieve MODEL_DIR [--port 8095]
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time


def post(port: int, body: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {data[:300]!r}")
    return json.loads(data)


def dropped_stream(port: int, prompt: list[int], after: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    body = {"model": "m", "prompt": prompt, "max_tokens": 400, "temperature": 0, "stream": True}
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    seen = 0
    while seen < after:
        line = resp.readline()
        if not line:
            break
        seen += line.startswith(b"data:")
    conn.sock.close()  # the client goes away mid-stream
    return seen


def metric(port: int, name: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def scenarios(port: int) -> dict:
    rng = random.Random(7)
    p1 = [rng.randint(100, 31999) for _ in range(40)]
    p2 = [rng.randint(100, 31999) for _ in range(24)]
    greedy = lambda p, n: {"model": "m", "prompt": p, "max_tokens": n, "temperature": 0}
    out = {"greedy": post(port, greedy(p1, 96))["choices"][0]["text"]}
    out["alone2"] = post(port, greedy(p2, 32))["choices"][0]["text"]
    results = {}
    t = threading.Thread(target=lambda: results.setdefault("long", post(port, greedy(p1, 96))))
    t.start()
    time.sleep(0.05)
    results["short"] = post(port, greedy(p2, 32))
    t.join()
    out["staggered_long"] = results["long"]["choices"][0]["text"]
    out["staggered_short"] = results["short"]["choices"][0]["text"]
    s = post(port, {"model": "m", "prompt": p1, "max_tokens": 32, "temperature": 0.8, "seed": 3})
    out["sampled"] = s["choices"][0]["text"]
    lp = post(port, dict(greedy(p2, 8), logprobs=5))["choices"][0]
    out["logprobs_first"] = lp["logprobs"]["tokens"][0] if lp.get("logprobs") else None
    out["logprobs_text"] = lp["text"]
    out["dropped_after"] = dropped_stream(port, p1, 6)
    out["greedy_after_drop"] = post(port, greedy(p1, 96))["choices"][0]["text"]
    out["device_decode_steps"] = metric(port, "pensieve_device_decode_steps_total")
    out["active_after"] = metric(port, "pensieve_active_sequences")
    return out


def serve(binary: str, model: str, port: int, decoder: str) -> dict:
    env = dict(os.environ, PENSIEVE_CUDA_DECODER=decoder)
    proc = subprocess.Popen([binary, "serve", "-m", model, "--port", str(port), "--parallel", "8"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        return scenarios(port)
    finally:
        proc.terminate()
        proc.wait(30)


def common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("--port", type=int, default=8095)
    a = ap.parse_args()
    on = serve(a.binary, a.model, a.port, "1")
    off = serve(a.binary, a.model, a.port + 1, "0")
    report = {k: {"decoder": on[k], "mlx": off[k]} for k in on}
    for k in ("greedy", "staggered_long", "staggered_short", "greedy_after_drop", "sampled", "logprobs_text"):
        report[k]["common_prefix_chars"] = common_prefix(on[k], off[k])
        report[k]["equal"] = on[k] == off[k]
    for k, r in report.items():  # texts cut short: the comparison fields say what matters
        print(k, json.dumps({f: (v[:60] if isinstance(v, str) else v) for f, v in r.items()}, ensure_ascii=True))
    failures = []
    if on["greedy"] != off["greedy"]:
        failures.append("greedy text differs from MLX's path")
    if on["greedy_after_drop"] != on["greedy"]:
        failures.append("greedy text changed after a dropped stream")
    if on["staggered_short"] != on["alone2"] and off["staggered_short"] == off["alone2"]:
        failures.append("the joining sequence's text changed on the decoder server only")
    if not on["device_decode_steps"] > 0 or off["device_decode_steps"] != 0:
        failures.append("decoder steps: %s on, %s off" % (on["device_decode_steps"], off["device_decode_steps"]))
    if on["active_after"] != 0:
        failures.append("sequences left active")
    print("FAIL: " + "; ".join(failures) if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
