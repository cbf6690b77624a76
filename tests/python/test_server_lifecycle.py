"""/health and /metrics, loading and a failed load, and SIGTERM with streams in flight."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time

import pytest

from server_fixture import (Server, assert_no_sanitizer_report, open_stream, request, sse_events,  # noqa: F401
                            start_server, wait_until)


def test_health_when_ready(start_server, pensieve_bin, tiny_model):
    server = start_server(pensieve_bin, tiny_model)
    status, headers, body = request(server, "GET", "/health")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert body["status"] == "ok"
    assert body["model"] == str(tiny_model)
    assert body["uptime_s"] >= 0
    assert body["active_requests"] == 0 and body["queued_requests"] == 0
    memory = body["memory"]
    assert memory["active_bytes"] > 0 and memory["kv_budget_bytes"] > 0
    for key in ("peak_bytes", "kv_bytes", "prefix_cache_bytes"):
        assert memory[key] >= 0


def test_health_is_503_while_loading(start_server, pensieve_bin, tiny_model, tmp_path):
    # tokenizer.json as a named pipe: loading blocks reading it until the test writes it.
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    text = (model / "tokenizer.json").read_bytes()
    (model / "tokenizer.json").unlink()
    os.mkfifo(model / "tokenizer.json")
    server = start_server(pensieve_bin, model, wait_ready=False)
    status, _, body = request(server, "GET", "/health")
    assert status == 503 and body["status"] == "loading"
    status, headers, body = request(server, "POST", "/v1/messages",
                                    {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
    assert status == 529 and body["error"]["type"] == "overloaded_error" and "retry-after" in headers
    status, _, body = request(server, "POST", "/v1/chat/completions",
                              {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 429
    status, _, metrics = request(server, "GET", "/metrics")
    assert status == 200 and "pensieve_model_ready 0" in metrics
    with open(model / "tokenizer.json", "wb") as pipe:
        pipe.write(text)
    body = server.wait_ready(60)
    assert body["status"] == "ok"


def test_failed_load_exits_with_a_message(pensieve_bin, tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    server = Server(pensieve_bin, model, wait_ready=False)
    seen = []
    while server.proc.poll() is None:
        try:
            status, _, body = request(server, "GET", "/health", timeout=2)
            seen.append((status, body.get("status") if isinstance(body, dict) else body))
        except OSError:
            pass
        time.sleep(0.02)
    rc = server.stop()
    log = server.stderr()
    assert rc == 1, log
    assert "safetensors" in log or "model.safetensors" in log, log
    assert all(status == 503 for status, _ in seen), seen
    assert_no_sanitizer_report(log)


def metric(m: dict, name: str) -> float:
    return m.get(name, 0.0)


def test_metrics_count_what_happened(start_server, pensieve_bin, tiny_model):
    server = start_server(pensieve_bin, tiny_model)
    before = server.metrics()
    status, _, body = request(server, "POST", "/v1/messages", {
        "model": "m", "max_tokens": 5, "temperature": 0, "messages": [{"role": "user", "content": "Count things"}]})
    assert status == 200
    request(server, "POST", "/v1/messages", {"model": "m"})  # a 400
    request(server, "GET", "/no/such/route")                 # a 404
    after = server.metrics()
    for name in ("pensieve_active_sequences", "pensieve_queue_depth", "pensieve_kv_bytes",
                 "pensieve_kv_budget_bytes", "pensieve_prefix_cache_bytes", "pensieve_prefix_cache_hits_total",
                 "pensieve_memory_active_bytes", "pensieve_memory_peak_bytes", "pensieve_model_ready"):
        assert name in after, name
    assert after['pensieve_http_requests_total{route="/v1/messages",status="200"}'] == 1
    assert after['pensieve_http_requests_total{route="/v1/messages",status="400"}'] == 1
    assert sum(v for k, v in after.items() if k.startswith("pensieve_http_requests_total") and 'status="404"' in k) == 1
    prompt = body["usage"]["input_tokens"] + body["usage"]["cache_read_input_tokens"]
    out = body["usage"]["output_tokens"]
    assert after["pensieve_prompt_tokens_total"] - metric(before, "pensieve_prompt_tokens_total") == prompt
    assert after["pensieve_generated_tokens_total"] - metric(before, "pensieve_generated_tokens_total") == out
    assert after["pensieve_time_to_first_token_seconds_count"] == 1
    assert after["pensieve_inter_token_latency_seconds_count"] == out - 1
    for hist in ("pensieve_time_to_first_token_seconds", "pensieve_inter_token_latency_seconds"):
        buckets = sorted(((float(k.split('le="')[1].rstrip('"}')), v) for k, v in after.items()
                          if k.startswith(hist + "_bucket")), key=lambda b: b[0])
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{hist} buckets are not cumulative"
        assert buckets[-1][0] == float("inf") and counts[-1] == after[hist + "_count"]
        assert after[hist + "_sum"] >= 0
    assert after["pensieve_active_sequences"] == 0 and after["pensieve_queue_depth"] == 0


def test_metrics_route_labels_are_bounded(start_server, pensieve_bin, tiny_model):
    # Paths that match no route share one label: a client inventing paths must not grow the
    # metrics without bound, nor break the text format with quotes or newlines.
    server = start_server(pensieve_bin, tiny_model)
    for i in range(20):
        request(server, "GET", f"/random/{i}")
    request(server, "GET", '/quote"and\\backslash')
    m = server.metrics()  # parse_metrics rejects malformed lines
    routes = {k for k in m if k.startswith("pensieve_http_requests_total")}
    assert len(routes) <= 3, routes


def test_sigterm_with_streams_in_flight(start_server, pensieve_bin, tiny_model):
    server = start_server(pensieve_bin, tiny_model, "--parallel", "2", "--max-queue", "8")
    long = {"model": "m", "max_tokens": 100_000, "stream": True, "messages": [{"role": "user", "content": "go on"}]}
    streams = []
    for path, body in (("/v1/messages", long), ("/v1/messages", long), ("/v1/messages", long),
                       ("/v1/chat/completions", long)):
        conn, res = open_stream(server, path, body)
        assert res.status == 200
        streams.append((path, conn, res))
    # Two generating, two queued.
    assert wait_until(lambda: server.metrics()["pensieve_active_sequences"] == 2, 5)
    endings = {}

    def drain(i, path, res):
        last = None
        try:
            for event, data in sse_events(res):
                last = (event, data)
        except Exception as e:  # noqa: BLE001
            last = ("exception", repr(e))
        endings[i] = last

    readers = [threading.Thread(target=drain, args=(i, p, r)) for i, (p, _, r) in enumerate(streams)]
    for t in readers:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    rc = server.stop(timeout=10)
    elapsed = time.monotonic() - t0
    for t in readers:
        t.join(5)
    assert rc == 0, server.stderr()[-3000:]
    assert elapsed < 5, f"exit took {elapsed:.1f} s"
    # Every stream ended properly: an Anthropic error event or the OpenAI error chunk then [DONE].
    for i, (path, conn, _) in enumerate(streams):
        conn.close()
        event, data = endings[i]
        if path == "/v1/messages":
            assert event == "error", (event, data)
            assert json.loads(data)["error"]["type"] in ("api_error", "overloaded_error"), data
        else:
            assert data == "[DONE]", (event, data)
    # Nothing listens any more.
    with pytest.raises(OSError):
        request(server, "GET", "/health", timeout=2)
