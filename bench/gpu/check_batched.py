#!/usr/bin/env python3
"""Greedy texts of 8 concurrent /v1/completions requests of different prompt lengths (JSON to stdout)."""
import http.client, json, random, sys, threading
port = int(sys.argv[1]); n = 8
rng = random.Random(5)
prompts = [[rng.randrange(1000, 30000) for _ in range(17 + 53 * i)] for i in range(n)]
out = [None] * n
def one(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/completions", json.dumps({"model": "m", "prompt": prompts[i], "max_tokens": 24,
              "temperature": 0}), {"Content-Type": "application/json"})
    raw = c.getresponse().read()
    try:
        out[i] = json.loads(raw)["choices"][0]["text"]
    except Exception:
        out[i] = "ERROR " + raw[:300].decode(errors="replace")
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps(out))
