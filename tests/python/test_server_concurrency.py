"""Continuous batching seen from outside (acceptance 4): 32 simultaneous streams all complete with
correct SSE framing, and with greedy decoding each equals the same request run alone.

Tolerance: none. Every output must be identical, token for token, to the solo run: the engine's
batched forward pass computes each row as the single-row pass does (the CPU kernels quantize
activations per row; attention and norms are per row), so batching must not change a greedy id.
"""
from __future__ import annotations

import threading

import pytest

from server_fixture import (anthropic_stream_text, check_anthropic_event_order, start_server,  # noqa: F401
                            stream_anthropic, wait_until)

STREAMS = 32
MAX_TOKENS = 12
TOPICS = ["rivers", "owls", "glass", "maps", "tides", "bread", "comets", "ink", "moss", "bells", "salt",
          "kites", "wool", "clocks", "ferns", "lamps", "coral", "dust", "honey", "wolves", "chalk", "reeds",
          "fog", "amber", "looms", "quartz", "pears", "drums", "ice", "silk", "moths", "brass"]


def body(i: int) -> dict:
    # Prompts of different lengths, so the batch mixes positions and prefill chunks.
    return {"model": "m", "max_tokens": MAX_TOKENS, "temperature": 0,
            "messages": [{"role": "user", "content": f"Tell me {'really ' * (i % 7)}about {TOPICS[i]}."}]}


def run_concurrently(server, n: int):
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait()
            results[i] = stream_anthropic(server, body(i))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"stream {i}: {e!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results, errors


@pytest.fixture(scope="module")
def solo_outputs(pensieve_bin, tiny_model):
    from server_fixture import Server

    server = Server(pensieve_bin, tiny_model, "--parallel", "1")
    try:
        return [anthropic_stream_text(stream_anthropic(server, body(i))) for i in range(STREAMS)]
    finally:
        server.assert_clean_exit()


@pytest.mark.parametrize("parallel", [32, 8])
def test_simultaneous_streams_equal_solo_runs(parallel, solo_outputs, start_server, pensieve_bin, tiny_model):
    server = start_server(pensieve_bin, tiny_model, "--parallel", str(parallel), "--max-queue", "64")
    peak = {"active": 0, "queued": 0}
    stop_watch = threading.Event()

    def watch():
        while not stop_watch.is_set():
            m = server.metrics()
            peak["active"] = max(peak["active"], m["pensieve_active_sequences"])
            peak["queued"] = max(peak["queued"], m["pensieve_queue_depth"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads, results, errors = run_concurrently(server, STREAMS)
    for t in threads:
        t.join(120)
    stop_watch.set()
    watcher.join()
    assert not errors, errors
    for i, events in enumerate(results):
        check_anthropic_event_order(events)
        final = [d for e, d in events if e == "message_delta"][0]
        text = anthropic_stream_text(events)
        assert text == solo_outputs[i], f"stream {i}: batched {text!r} != solo {solo_outputs[i]!r}"
        if final["delta"]["stop_reason"] == "max_tokens":
            assert final["usage"]["output_tokens"] == MAX_TOKENS
    # Sequences really ran together, and with 8 slots the rest waited in the queue.
    assert peak["active"] > 1
    assert peak["active"] <= parallel
    if parallel < STREAMS:
        assert peak["queued"] > 0
    assert wait_until(lambda: server.metrics()["pensieve_active_sequences"] == 0, 5)
    assert server.metrics()["pensieve_requests_finished_total"] == STREAMS
