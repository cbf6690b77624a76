"""Bad input and bad clients never bring the server down (acceptance 6). Every case gets its error
in the dialect's shape with the right status, and a normal request succeeds afterwards. Runs
against the release build and the AddressSanitizer/UBSan build, whose stderr must stay free of
sanitizer reports.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from server_fixture import (Server, assert_no_sanitizer_report, open_stream, request, sse_events,  # noqa: F401
                            wait_until)

API_KEY = "secret-key-123"
AUTH = {"x-api-key": API_KEY}
SMALL = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
SMALL_OPENAI = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module", params=["release", "asan"])
def server(request, tiny_model):
    binary = request.getfixturevalue("pensieve_bin" if request.param == "release" else "pensieve_asan_bin")
    s = Server(binary, tiny_model, "--api-key", API_KEY, "--max-body-mb", "1", "--parallel", "2",
               "--max-queue", "64", start_timeout=120)
    yield s
    s.assert_clean_exit()


def anthropic_error(status, body, expected_status, expected_type):
    assert status == expected_status, body
    assert body["type"] == "error", body
    assert body["error"]["type"] == expected_type, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def openai_error(status, body, expected_status, expected_type):
    assert status == expected_status, body
    assert body["error"]["type"] == expected_type, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def still_serving(server):
    status, _, body = request(server, "POST", "/v1/messages", SMALL, AUTH)
    assert status == 200, body
    assert body["stop_reason"] in ("max_tokens", "end_turn")
    assert_no_sanitizer_report(server.stderr())


def test_malformed_json(server):
    for raw in (b"{", b"not json", b'{"model": "m",}', b"", b"[1, 2]", b"null"):
        status, _, body = request(server, "POST", "/v1/messages", raw=raw, headers=AUTH)
        anthropic_error(status, body, 400, "invalid_request_error")
        status, _, body = request(server, "POST", "/v1/chat/completions", raw=raw, headers=AUTH)
        openai_error(status, body, 400, "invalid_request_error")
    still_serving(server)


def test_wrong_types(server):
    bad = [{**SMALL, "max_tokens": "two"}, {**SMALL, "messages": "hi"}, {**SMALL, "messages": [{"role": 5}]},
           {**SMALL, "system": 12}, {**SMALL, "stop_sequences": "x"}, {**SMALL, "max_tokens": -1},
           {**SMALL, "temperature": "hot"}, {**SMALL, "tools": {"a": 1}},
           {**SMALL, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
           {**SMALL, "max_tokens": 10 ** 30}, {**SMALL, "stream": "yes"}, {**SMALL, "model": None},
           {**SMALL, "messages": [{"role": "user", "content": 42}]}, {**SMALL, "tool_choice": {"type": "maybe"}},
           {**SMALL, "messages": [{"role": "robot", "content": "hi"}]}]
    for b in bad:
        status, _, body = request(server, "POST", "/v1/messages", b, AUTH)
        anthropic_error(status, body, 400, "invalid_request_error")
    for b in ({**SMALL_OPENAI, "n": "3"}, {**SMALL_OPENAI, "messages": [{"role": "user"}]},
              {**SMALL_OPENAI, "top_logprobs": 1000}, {**SMALL_OPENAI, "logit_bias": []},
              {**SMALL_OPENAI, "stream": 1}, {**SMALL_OPENAI, "stop": 5}, {**SMALL_OPENAI, "n": 0}):
        status, _, body = request(server, "POST", "/v1/chat/completions", b, AUTH)
        openai_error(status, body, 400, "invalid_request_error")
    still_serving(server)


def test_unknown_routes(server):
    status, _, body = request(server, "GET", "/v1/nothing", headers=AUTH)
    anthropic_error(status, body, 404, "not_found_error")
    status, _, body = request(server, "POST", "/v1/chat/nothing", {}, AUTH)
    openai_error(status, body, 404, "not_found_error")
    status, _, body = request(server, "DELETE", "/v1/messages", headers=AUTH)
    assert status in (404, 405) and body["type"] == "error"
    still_serving(server)


def test_oversized_body(server):
    big = {**SMALL, "messages": [{"role": "user", "content": "x" * (2 << 20)}]}
    status, _, body = request(server, "POST", "/v1/messages", big, AUTH)
    anthropic_error(status, body, 413, "request_too_large")
    still_serving(server)


def test_invalid_utf8(server):
    raw = b'{"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "bad \xff\xfe here"}]}'
    status, _, body = request(server, "POST", "/v1/messages", raw=raw, headers=AUTH)
    anthropic_error(status, body, 400, "invalid_request_error")
    assert "UTF-8" in body["error"]["message"]
    # A lone surrogate escaped in JSON is not text either.
    raw = b'{"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "\\ud800"}]}'
    status, _, body = request(server, "POST", "/v1/messages", raw=raw, headers=AUTH)
    anthropic_error(status, body, 400, "invalid_request_error")
    still_serving(server)


def test_deeply_nested_json(server):
    for depth in (10_000, 100_000):
        raw = b'{"model": "m", "max_tokens": 2, "metadata": ' + b"[" * depth + b"]" * depth + b', "messages": []}'
        status, _, body = request(server, "POST", "/v1/messages", raw=raw, headers=AUTH)
        anthropic_error(status, body, 400, "invalid_request_error")
    raw = b'{"a": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001
    status, _, body = request(server, "POST", "/v1/chat/completions", raw=raw, headers=AUTH)
    openai_error(status, body, 400, "invalid_request_error")
    still_serving(server)


def test_api_key(server):
    for headers in ({}, {"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}, {"x-api-key": API_KEY[:-1]},
                    {"Authorization": API_KEY}, {"x-api-key": API_KEY + "x"}):
        status, _, body = request(server, "POST", "/v1/messages", SMALL, headers)
        anthropic_error(status, body, 401, "authentication_error")
        status, _, body = request(server, "POST", "/v1/chat/completions", SMALL_OPENAI, headers)
        openai_error(status, body, 401, "authentication_error")
    status, _, body = request(server, "POST", "/v1/messages", SMALL, {"Authorization": f"Bearer {API_KEY}"})
    assert status == 200, body
    status, _, body = request(server, "POST", "/v1/chat/completions", SMALL_OPENAI, {"Authorization": f"Bearer {API_KEY}"})
    assert status == 200, body
    # /health stays open for probes.
    status, _, body = request(server, "GET", "/health")
    assert status == 200
    still_serving(server)


def test_client_gone_mid_stream(server):
    long = {**SMALL, "max_tokens": 100_000}  # clamped to the context: runs until cancelled
    conn, res = open_stream(server, "/v1/messages", {**long, "stream": True}, AUTH)
    assert res.status == 200
    events = sse_events(res)
    names = [next(events)[0] for _ in range(4)]
    assert names[0] == "message_start"
    assert server.metrics()["pensieve_active_sequences"] >= 1
    # Close the socket under the response (no orderly end of the HTTP exchange).
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert wait_until(lambda: server.metrics()["pensieve_active_sequences"] == 0, 5), server.metrics()
    m = server.metrics()
    assert m["pensieve_kv_bytes"] == 0
    # The same for the OpenAI stream.
    conn, res = open_stream(server, "/v1/chat/completions", {**SMALL_OPENAI, "max_tokens": 100_000, "stream": True}, AUTH)
    assert res.status == 200
    res.readline()
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert wait_until(lambda: server.metrics()["pensieve_active_sequences"] == 0, 5), server.metrics()
    still_serving(server)


def test_full_queue(server, tiny_model, request_binary):
    # A server of its own: one slot, one queue place.
    s = Server(request_binary, tiny_model, "--parallel", "1", "--max-queue", "1", start_timeout=120)
    try:
        long = {"model": "m", "max_tokens": 100_000, "stream": True, "messages": [{"role": "user", "content": "go"}]}
        holders = []
        for _ in range(2):  # the slot, then the queue place
            conn, res = open_stream(s, "/v1/messages", long)
            assert res.status == 200
            holders.append((conn, res))
        assert wait_until(lambda: s.metrics()["pensieve_queue_depth"] == 1, 5)
        status, headers, body = request(s, "POST", "/v1/messages", {**long, "stream": False})
        anthropic_error(status, body, 529, "overloaded_error")
        assert int(headers["retry-after"]) >= 1
        status, headers, body = request(s, "POST", "/v1/messages", long)
        anthropic_error(status, body, 529, "overloaded_error")
        status, headers, body = request(s, "POST", "/v1/chat/completions", SMALL_OPENAI)
        openai_error(status, body, 429, "rate_limit_error")
        assert int(headers["retry-after"]) >= 1
        status, headers, body = request(s, "POST", "/v1/completions", {"model": "m", "prompt": "x", "max_tokens": 2})
        openai_error(status, body, 429, "rate_limit_error")
        for conn, _ in holders:
            conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()
        assert wait_until(lambda: s.metrics()["pensieve_active_sequences"] == 0
                          and s.metrics()["pensieve_queue_depth"] == 0, 5)
        status, _, body = request(s, "POST", "/v1/messages", SMALL)
        assert status == 200, body
    finally:
        s.assert_clean_exit()
    still_serving(server)


def test_a_burst_takes_every_slot_and_queue_place(server, tiny_model, request_binary):
    # Four slots and one queue place take five streams opened one after another, however far the
    # engine has got with admitting the earlier ones (it is busy decoding them while the later
    # ones arrive); the sixth is refused.
    s = Server(request_binary, tiny_model, "--parallel", "4", "--max-queue", "1", start_timeout=120)
    try:
        long = {"model": "m", "max_tokens": 100_000, "stream": True, "messages": [{"role": "user", "content": "go"}]}
        holders = []
        for i in range(5):
            conn, res = open_stream(s, "/v1/messages", long)
            assert res.status == 200, f"stream {i + 1} of 5: {res.status} {res.read()[:300]!r}"
            holders.append((conn, res))
        assert wait_until(lambda: s.metrics()["pensieve_active_sequences"] == 4
                          and s.metrics()["pensieve_queue_depth"] == 1, 5), s.metrics()
        status, _, body = request(s, "POST", "/v1/messages", {**long, "stream": False})
        anthropic_error(status, body, 529, "overloaded_error")
        for conn, _ in holders:
            conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()
        assert wait_until(lambda: s.metrics()["pensieve_active_sequences"] == 0
                          and s.metrics()["pensieve_queue_depth"] == 0, 5), s.metrics()
    finally:
        s.assert_clean_exit()
    still_serving(server)


@pytest.fixture
def request_binary(server):
    return server.binary


def test_slow_and_broken_http(server):
    # A request line of garbage, a header that never ends, a truncated body: each connection ends
    # without taking the server with it.
    for payload in (b"GARBAGE\r\n\r\n", b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"",
                    b"POST /v1/messages HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"\x00\x01\x02\xff" * 100):
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            try:
                sock.recv(4096)
            except (socket.timeout, ConnectionResetError):
                pass
    still_serving(server)


def test_many_bad_requests_at_once(server):
    errors = []

    def hammer(i):
        try:
            for j in range(5):
                raw = json.dumps({**SMALL, "max_tokens": "x" if (i + j) % 2 else 0}).encode()
                status, _, _ = request(server, "POST", "/v1/messages", raw=raw, headers=AUTH)
                if status != 400:
                    errors.append(status)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    time.sleep(0.1)
    still_serving(server)


def test_burst_of_connections_while_busy(server):
    """A burst of clients connecting while the server is not accepting (here: stopped for a moment,
    as a loaded machine may hold it) must all be served once it runs again: the listen backlog
    holds them. With cpp-httplib's own backlog of 5, connections past it were reset or timed out."""
    import signal

    clients = 64
    socks = []
    server.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(clients):
            s = socket.create_connection((server.host, server.port), timeout=0.5)
            s.settimeout(30)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            socks.append(s)
    finally:
        server.proc.send_signal(signal.SIGCONT)
    answered = 0
    for s in socks:
        with s:
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                answered += 1
    assert answered == clients
    still_serving(server)
