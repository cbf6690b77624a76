"""The engine's own timings as responses report them: the OpenAI `timings` object (llama-server's
names) on non-streaming responses and on the last chunks of a stream, the Server-Timing header on
non-streaming responses, and the /metrics histograms. The reference is the client's own clock and
the response's usage; the Anthropic SDK must still parse what the server sends."""
from __future__ import annotations

import http.client
import json
import re
import time

import anthropic
import pytest

from server_fixture import module_server, open_stream, request, sse_events  # noqa: F401

COUNTS = ("prompt_n", "cache_n", "predicted_n")
DURATIONS = ("prompt_ms", "predicted_ms", "prepare_ms", "queue_ms", "first_token_ms",
             "prompt_per_token_ms", "prompt_per_second", "predicted_per_token_ms", "predicted_per_second")


def check_timings(t: dict, usage: dict, client_first_token_ms: float, client_total_ms: float):
    """Consistent with the usage and with what the client measured around the request."""
    assert set(COUNTS + DURATIONS) <= set(t), t
    assert all(isinstance(t[k], int) and t[k] >= 0 for k in COUNTS), t
    assert all(isinstance(t[k], (int, float)) and t[k] >= 0 for k in DURATIONS), t
    assert t["predicted_n"] == usage["completion_tokens"]
    assert t["prompt_n"] + t["cache_n"] == usage["prompt_tokens"]
    assert t["cache_n"] == usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    # The server's clock starts after the client's and the first token leaves it before the
    # client sees it.
    assert t["first_token_ms"] <= client_first_token_ms
    assert t["prepare_ms"] <= t["queue_ms"] <= t["first_token_ms"]
    assert t["first_token_ms"] + t["predicted_ms"] <= client_total_ms
    # prompt_ms is the engine's part of the wait for the first token.
    assert t["prompt_ms"] <= t["first_token_ms"] - t["queue_ms"] + 1e-6
    steps = t["predicted_n"] - 1
    if steps > 0 and t["predicted_ms"] > 0:
        assert t["predicted_per_second"] == pytest.approx(1000 * steps / t["predicted_ms"], rel=1e-6)
        assert t["predicted_per_token_ms"] == pytest.approx(t["predicted_ms"] / steps, rel=1e-6)


def chat_body(content: str, max_tokens: int, **kw) -> dict:
    return {"model": "m", "max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": "user", "content": content}], **kw}


def test_chat_non_streaming_timings(module_server):
    start = time.perf_counter()
    status, headers, body = request(module_server, "POST", "/v1/chat/completions",
                                    chat_body("Timings, please: a fresh prompt 1.", 6))
    elapsed_ms = 1000 * (time.perf_counter() - start)
    assert status == 200, body
    t = body["timings"]
    check_timings(t, body["usage"], elapsed_ms, elapsed_ms)
    assert t["predicted_n"] > 0 and t["cache_n"] == 0
    assert "server-timing" in headers


def test_chat_streaming_timings_on_the_last_chunks(module_server):
    start = time.perf_counter()
    conn, res = open_stream(module_server, "/v1/chat/completions",
                            chat_body("Timings, please: a fresh prompt 2.", 6, stream=True,
                                      stream_options={"include_usage": True}))
    first_ms = None
    chunks = []
    try:
        assert res.status == 200
        for _, data in sse_events(res):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if first_ms is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first_ms = 1000 * (time.perf_counter() - start)
            chunks.append(chunk)
    finally:
        conn.close()
    total_ms = 1000 * (time.perf_counter() - start)
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and chunks[-1] is not finish[0]
    usage = chunks[-1]["usage"]
    # Only the choice's last chunk and the usage chunk carry timings.
    assert [c for c in chunks if "timings" in c] == [finish[0], chunks[-1]]
    assert first_ms is not None
    for t in (finish[0]["timings"], chunks[-1]["timings"]):
        check_timings(t, usage, first_ms, total_ms)
    assert finish[0]["timings"]["predicted_n"] == usage["completion_tokens"]


def test_chat_streaming_client_ttft_bounds_first_token_ms(module_server):
    """Without include_usage the choice's last chunk carries them; first_token_ms ≤ the client's
    time to its first chunk with text or a finish reason."""
    conn = http.client.HTTPConnection(module_server.host, module_server.port, timeout=120)
    try:
        sent = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body(
            "Timings, please: a fresh prompt 3.", 4, stream=True)).encode(),
            headers={"content-type": "application/json"})
        res = conn.getresponse()
        first_ms = None
        last = None
        for _, data in sse_events(res):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if first_ms is None and chunk["choices"] and (chunk["choices"][0]["delta"].get("content")
                                                          or chunk["choices"][0]["finish_reason"]):
                first_ms = 1000 * (time.perf_counter() - sent)
            last = chunk
        total_ms = 1000 * (time.perf_counter() - sent)
    finally:
        conn.close()
    t = last["timings"]
    assert last["choices"][0]["finish_reason"]
    assert 0 <= t["first_token_ms"] <= first_ms
    assert t["first_token_ms"] + t["predicted_ms"] <= total_ms


def test_completions_timings_count_the_prefix_cache(module_server):
    prompt = "A completion prompt long enough to be cached: " + "lorem ipsum " * 20
    bodies = []
    for _ in range(2):
        start = time.perf_counter()
        status, _, body = request(module_server, "POST", "/v1/completions",
                                  {"model": "m", "prompt": prompt, "max_tokens": 3, "temperature": 0})
        elapsed_ms = 1000 * (time.perf_counter() - start)
        assert status == 200, body
        check_timings(body["timings"], body["usage"], elapsed_ms, elapsed_ms)
        bodies.append(body)
    # The second run reads the first one's prompt from the prefix cache: fewer tokens to run.
    assert bodies[1]["timings"]["cache_n"] > 0
    assert bodies[1]["timings"]["prompt_n"] < bodies[0]["timings"]["prompt_n"]


def test_completions_streaming_timings(module_server):
    start = time.perf_counter()
    conn, res = open_stream(module_server, "/v1/completions",
                            {"model": "m", "prompt": "Stream timings 4.", "max_tokens": 5, "temperature": 0,
                             "stream": True, "stream_options": {"include_usage": True}})
    chunks = []
    try:
        for _, data in sse_events(res):
            if data == "[DONE]":
                break
            chunks.append(json.loads(data))
    finally:
        conn.close()
    total_ms = 1000 * (time.perf_counter() - start)
    usage = chunks[-1]["usage"]
    check_timings(chunks[-1]["timings"], usage, total_ms, total_ms)


def test_n_choices_sum_their_tokens(module_server):
    start = time.perf_counter()
    status, _, body = request(module_server, "POST", "/v1/chat/completions",
                              chat_body("Two answers, please 5.", 4, n=2, temperature=0.8, seed=3))
    elapsed_ms = 1000 * (time.perf_counter() - start)
    assert status == 200, body
    t = body["timings"]
    assert t["predicted_n"] == body["usage"]["completion_tokens"]
    # Both choices ran the prompt (the second may find it in the prefix cache).
    assert t["prompt_n"] + t["cache_n"] == 2 * body["usage"]["prompt_tokens"]
    assert 0 <= t["first_token_ms"] <= elapsed_ms


SERVER_TIMING = re.compile(r"^(\w+;dur=\d+(\.\d+)?)(, \w+;dur=\d+(\.\d+)?)*$")


def test_anthropic_sdk_parses_and_the_header_has_the_timings(module_server):
    with anthropic.Anthropic(base_url=module_server.url, api_key="unused", max_retries=0) as client:
        start = time.perf_counter()
        raw = client.messages.with_raw_response.create(
            model="m", max_tokens=5, extra_body={"temperature": 0},
            messages=[{"role": "user", "content": "Header timings 6."}])
        elapsed_ms = 1000 * (time.perf_counter() - start)
        message = raw.parse()
        assert message.type == "message" and message.usage.output_tokens > 0
        header = raw.headers["server-timing"]
        assert SERVER_TIMING.match(header), header
        durations = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+);dur=([\d.]+)", header)}
        assert set(durations) == {"prepare", "queue", "prompt", "first_token", "predicted"}
        assert durations["first_token"] + durations["predicted"] <= elapsed_ms
        assert durations["prepare"] <= durations["queue"] <= durations["first_token"]
        # Streams keep the body as the SDK knows it: no timings in any event.
        with client.messages.stream(model="m", max_tokens=5, extra_body={"temperature": 0},
                                    messages=[{"role": "user", "content": "Stream, SDK 7."}]) as stream:
            final = stream.get_final_message()
        assert final.usage.output_tokens > 0


def test_metrics_histograms_count_the_requests(module_server):
    def counts():
        status, _, text = request(module_server, "GET", "/metrics")
        assert status == 200
        found = {}
        for name in ("pensieve_request_first_token_seconds_count", "pensieve_request_prepare_seconds_count",
                     "pensieve_stream_delivery_seconds_count"):
            m = re.search(rf"^{name} (\S+)$", text, re.M)
            assert m, name
            found[name] = float(m.group(1))
        return found

    before = counts()
    conn, res = open_stream(module_server, "/v1/messages",
                            {"model": "m", "max_tokens": 4, "stream": True,
                             "messages": [{"role": "user", "content": "Metrics 8."}]})
    try:
        events = list(sse_events(res))
    finally:
        conn.close()
    assert events[-1][0] == "message_stop"
    after = counts()
    assert after["pensieve_request_first_token_seconds_count"] == before["pensieve_request_first_token_seconds_count"] + 1
    assert after["pensieve_request_prepare_seconds_count"] == before["pensieve_request_prepare_seconds_count"] + 1
    assert after["pensieve_stream_delivery_seconds_count"] > before["pensieve_stream_delivery_seconds_count"]
