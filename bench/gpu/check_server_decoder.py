#!/usr/bin/env python3
"""The server's lone-sequence decode on the CUDA decoder against MLX's path, on a GPU machine.

Starts `pensieve serve` twice on the same model, with PENSIEVE_CUDA_DECODER=1 and =0, sends each
the same requests and compares the two servers' answers:
  - greedy: one request alone (on the decoder all the way with =1, steps chained on the device);
  - staggered: a long greedy request, a second joining mid-way (the first leaves the decoder for
    MLX's batch, and comes back when the second ends), as text and, with log-probabilities (the
    host samples from the decoder's logits), token by token;
  - a prefix-cache hit after another hit on the same entry decoded something else;
  - seeded sampling, a stream dropped after a few tokens, greedy again after it;
  - batches (on the decoder's batch mode with =1): 8 concurrent greedy requests of different
    lengths, the same with log-probabilities (the host samples each row from the batch's
    logits), and a stream dropped while three others decode.
The random-weight model has near-ties that float16 rounding flips, so texts may part; where they
do, MLX's own top-two gap there says whether it was a near-tie. Exits non-zero on an HTTP error,
log-probabilities that differ by more than 0.1 (or part at a gap over 0.1, 0.2 for concurrent
requests: greedy requests too, each asked for its log-probabilities once), no decoder steps, an
empty batch answer, or sequences left active.
PENSIEVE_CUDA_BATCH_DECODER=0 in the environment keeps the first server's batches on MLX's path.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_bench import wait_ready  # noqa: E402


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
    prompt = lambda n: [rng.randint(100, 31999) for _ in range(n)]
    p1, p2, p3, p4, p5 = prompt(40), prompt(24), prompt(36), prompt(20), prompt(30)
    greedy = lambda p, n, **kw: dict({"model": "m", "prompt": p, "max_tokens": n, "temperature": 0}, **kw)
    lp = lambda r: r["choices"][0]["logprobs"]
    text = lambda r: r["choices"][0]["text"]
    out = {"greedy": text(post(port, greedy(p1, 96))), "greedy_lp": lp(post(port, greedy(p4, 96, logprobs=2)))}

    def staggered(long_body, short_body):
        results = {}
        t = threading.Thread(target=lambda: results.setdefault("long", post(port, long_body)))
        t.start()
        time.sleep(0.05)  # the long one decodes alone first, then the short one joins
        results["short"] = post(port, short_body)
        t.join()
        return results["long"], results["short"]

    long_r, short_r = staggered(greedy(p2, 96), greedy(p3, 32))
    out["staggered_long"], out["staggered_short"] = text(long_r), text(short_r)
    long_r, short_r = staggered(greedy(p4, 96, logprobs=2), greedy(p5, 32, logprobs=2))
    out["staggered_long_lp"], out["staggered_short_lp"] = lp(long_r), lp(short_r)
    # p1's entry in the prefix cache is shared with every hit: a hit that decodes something else
    # (in place, on the decoder) must leave it intact for the next hit.
    post(port, greedy(p1[:30] + p5[:10], 48))
    out["hit_after_other_hit_lp"] = lp(post(port, greedy(p1, 48, logprobs=2)))
    s = post(port, {"model": "m", "prompt": p3, "max_tokens": 32, "temperature": 0.8, "seed": 3})
    out["sampled"] = text(s)
    out["dropped_after"] = dropped_stream(port, p4, 6)
    out["greedy_after_drop"] = text(post(port, greedy(p1, 96)))
    def concurrent(bodies):
        results = [None] * len(bodies)

        def one(i):
            results[i] = post(port, bodies[i])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
        [t.start() for t in threads]
        [t.join() for t in threads]
        return results

    batch_prompts = [prompt(17 + 41 * i) for i in range(8)]
    out["concurrent"] = [text(r) for r in concurrent([greedy(p, 40 + 4 * i) for i, p in enumerate(batch_prompts)])]
    out["concurrent_lp"] = [lp(r) for r in concurrent([greedy(p, 40, logprobs=2) for p in batch_prompts])]
    dropper = threading.Thread(target=lambda: out.setdefault("dropped_in_batch_after", dropped_stream(port, p2, 8)))
    dropper.start()
    out["beside_dropped"] = [text(r) for r in concurrent([greedy(p, 48) for p in batch_prompts[:3]])]
    dropper.join()
    out["device_decode_steps"] = metric(port, "pensieve_device_decode_steps_total")
    out["batched_decode_steps"] = metric(port, "pensieve_batched_decode_steps_total")
    out["active_after"] = metric(port, "pensieve_active_sequences")
    return out


def compare_logprobs(on: dict, off: dict) -> dict:
    """Token by token until the first different token: the largest difference of the chosen
    token's log-probability, and at the first difference MLX's gap between its top two (a
    near-tie that float16 rounding may flip) — a broken cache differs by far more."""
    n = 0
    while n < min(len(on["tokens"]), len(off["tokens"])) and on["tokens"][n] == off["tokens"][n]:
        n += 1
    diffs = [abs(a - b) for a, b in zip(on["token_logprobs"][:n], off["token_logprobs"][:n])]
    r = {"same_tokens": n, "of": len(off["tokens"]), "max_logprob_diff": round(max(diffs, default=0), 4)}
    if n < len(off["tokens"]):
        top = sorted(off["top_logprobs"][n].values(), reverse=True)
        r["mlx_top2_gap_at_first_difference"] = round(top[0] - top[1], 4) if len(top) > 1 else None
        # The decoder's own gap there and both servers' top two (reported, not judged): a small
        # gap of the decoder's own is a near-tie of its own that a change in rounding may flip.
        if n < len(on["tokens"]):
            mine = sorted(on["top_logprobs"][n].values(), reverse=True)
            r["decoder_top2_gap_at_first_difference"] = round(mine[0] - mine[1], 4) if len(mine) > 1 else None
            r["top2_decoder_mlx"] = [{t: round(v, 4) for t, v in side["top_logprobs"][n].items()} for side in (on, off)]
    return r


def serve(binary: str, model: str, port: int, decoder: str) -> dict:
    env = dict(os.environ, PENSIEVE_CUDA_DECODER=decoder)
    proc = subprocess.Popen([binary, "serve", "-m", model, "--port", str(port), "--parallel", "8"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(port, 120)  # /health answers 503 while the model loads
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
    report = {}
    for k in ("greedy", "staggered_long", "staggered_short", "greedy_after_drop", "sampled"):
        report[k] = {"equal": on[k] == off[k], "common_prefix_chars": common_prefix(on[k], off[k]),
                     "decoder": on[k][:50], "mlx": off[k][:50]}
    for k in ("greedy_lp", "staggered_long_lp", "staggered_short_lp", "hit_after_other_hit_lp"):
        report[k] = compare_logprobs(on[k], off[k])
    for i in range(len(off["concurrent_lp"])):
        report[f"concurrent_lp_{i}"] = compare_logprobs(on["concurrent_lp"][i], off["concurrent_lp"][i])
    report["concurrent_greedy_equal"] = sum(a == b for a, b in zip(on["concurrent"], off["concurrent"]))
    report["beside_dropped_equal"] = sum(a == b for a, b in zip(on["beside_dropped"], off["beside_dropped"]))
    for k in ("dropped_after", "dropped_in_batch_after", "device_decode_steps", "batched_decode_steps", "active_after"):
        report[k] = {"decoder": on[k], "mlx": off[k]}
    for k, r in report.items():
        print(k, json.dumps(r, ensure_ascii=True))
    failures = []
    # Concurrent requests join and leave MLX's batch at times of their own in each server, and
    # MLX's products change kernels with the batch size, which moves its logits too: a parting at
    # a top-two gap up to 0.2 is a near-tie there (one such run parted at 0.156 after 25 tokens
    # that differed by 0.014 at most; the run before gave 40 of 40).
    lp_keys = {k: 0.1 for k in ("greedy_lp", "staggered_long_lp", "staggered_short_lp", "hit_after_other_hit_lp")}
    lp_keys.update({f"concurrent_lp_{i}": 0.2 for i in range(len(off["concurrent_lp"]))})
    for k, gap in lp_keys.items():
        r = report[k]
        if r["max_logprob_diff"] > 0.1 or (r.get("mlx_top2_gap_at_first_difference") or 0) > gap or r["same_tokens"] < 1:
            failures.append(f"{k}: {r}")
    if not on["device_decode_steps"] > 0 or off["device_decode_steps"] != 0:
        failures.append("decoder steps: %s on, %s off" % (on["device_decode_steps"], off["device_decode_steps"]))
    if any(t.startswith("ERROR") or not t for t in on["concurrent"] + on["beside_dropped"]):
        failures.append("an empty batch answer")
    if on["active_after"] != 0:
        failures.append("sequences left active")
    print("FAIL: " + "; ".join(failures) if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
