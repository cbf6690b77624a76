"""`pensieve serve` as a test fixture: started on a free port, ready once /health says so, stopped
with SIGTERM at teardown (which must end it cleanly, exit status 0), plus small HTTP helpers that
show exactly what went over the wire (statuses, headers, SSE framing) where the SDKs would hide it.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# What the sanitizers print when they find something (ASan, LSan, UBSan).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")
STOP_TIMEOUT_S = 15.0
ROOT_CLIENTS = Path(__file__).resolve().parents[1] / "clients"  # Claude Code's npm install


class Server:
    """One `pensieve serve` process."""

    def __init__(self, binary: Path, model: Path, *flags: str, env: dict | None = None,
                 wait_ready: bool = True, start_timeout: float = 60.0, log_level: str | None = None):
        self.binary = Path(binary)
        self.model = Path(model)
        self.flags = list(flags)
        # Requests the helpers make on the tests' behalf (/metrics) carry the key, if there is one.
        self.auth = {"x-api-key": flags[flags.index("--api-key") + 1]} if "--api-key" in flags else {}
        self._stderr = tempfile.NamedTemporaryFile(prefix="pensieve-serve-", suffix=".log", delete=False)
        self.stderr_path = Path(self._stderr.name)
        full_env = dict(os.environ)
        # Leaks at exit are MLX's caches, not ours; everything else the sanitizers find fails.
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        full_env.update(env or {})
        level = ["--log-level", log_level] if log_level else []
        args = [str(self.binary), *level, "serve", "-m", str(self.model), "--port", "0", *self.flags]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, env=full_env)
        self.port = self._wait_for_port(start_timeout)
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.returncode: int | None = None
        if wait_ready:
            self.wait_ready(start_timeout)

    # -- lifecycle -------------------------------------------------------------------------------
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on [\w.:\[\]-]+?:(\d+)\b", self.stderr())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"pensieve serve exited ({self.proc.returncode}) before listening:\n"
                                     + self.stderr())
            time.sleep(0.02)
        raise AssertionError("pensieve serve did not start listening:\n" + self.stderr())

    def wait_ready(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, body = request(self, "GET", "/health")
            if status == 200:
                return body
            if self.proc.poll() is not None:
                raise AssertionError("pensieve serve exited while loading:\n" + self.stderr())
            time.sleep(0.05)
        raise AssertionError("pensieve serve never became ready:\n" + self.stderr())

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then wait; returns the exit status (killing it if it hangs, then failing)."""
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._stderr.close()
            raise AssertionError(f"pensieve serve ignored SIGTERM for {timeout} s:\n" + self.stderr()[-4000:])
        self._stderr.close()
        return self.returncode

    def assert_clean_exit(self):
        rc = self.stop()
        log = self.stderr()
        assert rc == 0, f"pensieve serve exited with {rc}:\n{log[-4000:]}"
        assert_no_sanitizer_report(log)

    def metrics(self) -> dict[str, float]:
        status, _, text = request(self, "GET", "/metrics", headers=self.auth)
        assert status == 200, text
        return parse_metrics(text)


def assert_no_sanitizer_report(log: str):
    found = [m for m in SANITIZER_MARKERS if m in log]
    assert not found, f"sanitizer report in the server's stderr ({found}):\n{log[-6000:]}"


# -- HTTP -----------------------------------------------------------------------------------------
def connect(server: Server, timeout: float = 120.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(server.host, server.port, timeout=timeout)


def request(server: Server, method: str, path: str, body=None, headers: dict | None = None,
            raw: bytes | None = None, timeout: float = 120.0):
    """One request; returns (status, headers as a lower-cased dict, JSON body or text)."""
    conn = connect(server, timeout)
    try:
        hdrs = {"content-type": "application/json", **(headers or {})}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=hdrs)
        res = conn.getresponse()
        payload = res.read()
        res_headers = {k.lower(): v for k, v in res.getheaders()}
    finally:
        conn.close()
    text = payload.decode("utf-8", errors="replace")
    if res_headers.get("content-type", "").startswith("application/json"):
        return res.status, res_headers, json.loads(text)
    return res.status, res_headers, text


def open_stream(server: Server, path: str, body: dict, headers: dict | None = None, timeout: float = 120.0):
    """Starts a streaming POST; returns (connection, response) with the body not yet read."""
    conn = connect(server, timeout)
    conn.request("POST", path, body=json.dumps(body).encode(),
                 headers={"content-type": "application/json", **(headers or {})})
    return conn, conn.getresponse()


def sse_events(response):
    """Yields (event name or None, data string) per SSE event, checking the framing as it goes:
    every line is `field: value`, and every event ends with a blank line."""
    event, data = None, []
    while True:
        line = response.readline()
        if not line:
            assert event is None and not data, "the stream ended inside an event (no blank line)"
            return
        line = line.decode("utf-8")
        assert line.endswith("\n"), f"unterminated line {line!r}"
        line = line.rstrip("\n").rstrip("\r")
        if line == "":
            if event is not None or data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        field, sep, value = line.partition(":")
        assert sep, f"not an SSE field line: {line!r}"
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        else:
            assert field == "" or field in ("id", "retry"), f"unknown SSE field {field!r}"


def stream_anthropic(server: Server, body: dict, headers: dict | None = None):
    """A streamed /v1/messages: the list of (event, parsed data), framing checked."""
    conn, res = open_stream(server, "/v1/messages", {**body, "stream": True}, headers)
    try:
        assert res.status == 200, res.read()
        assert res.getheader("content-type", "").startswith("text/event-stream")
        out = []
        for event, data in sse_events(res):
            parsed = json.loads(data)
            assert parsed["type"] == event, f"event {event!r} carries type {parsed['type']!r}"
            out.append((event, parsed))
        return out
    finally:
        conn.close()


def anthropic_stream_text(events) -> str:
    return "".join(d["delta"]["text"] for e, d in events
                   if e == "content_block_delta" and d["delta"]["type"] == "text_delta")


def check_anthropic_event_order(events):
    """The order Anthropic's streams follow: message_start, then blocks (start, deltas, stop)
    with pings anywhere, then message_delta and message_stop last."""
    names = [e for e, _ in events if e != "ping"]
    assert names[0] == "message_start", names
    assert names[-2:] == ["message_delta", "message_stop"], names
    open_block = None
    for e, d in events:
        if e == "content_block_start":
            assert open_block is None, "a block started inside another"
            open_block = d["index"]
        elif e == "content_block_delta":
            assert d["index"] == open_block, "a delta outside its block"
        elif e == "content_block_stop":
            assert d["index"] == open_block
            open_block = None
    assert open_block is None, "a block never stopped"


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format → {"name{labels}": value}; also checks every sample has a TYPE."""
    values, typed = {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", line)
        assert m, f"not a Prometheus sample line: {line!r}"
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, f"{name} has no # TYPE line"
        values[name + (m.group(2) or "")] = float(m.group(3))
    return values


def wait_until(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- pytest fixtures ------------------------------------------------------------------------------
@pytest.fixture
def start_server():
    """Factory: start_server(binary, model, *flags, **kw) -> Server; every server it started is
    stopped at teardown with SIGTERM and must exit 0 without a sanitizer report."""
    servers: list[Server] = []

    def start(binary, model, *flags, **kw) -> Server:
        server = Server(binary, model, *flags, **kw)
        servers.append(server)
        return server

    yield start
    failures = []
    for server in servers:
        try:
            server.assert_clean_exit()
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def module_server(request, pensieve_bin, tiny_model):
    """One shared server per test module: flags from the module's SERVER_FLAGS."""
    flags = getattr(request.module, "SERVER_FLAGS", ())
    server = Server(pensieve_bin, tiny_model, *flags)
    yield server
    server.assert_clean_exit()
