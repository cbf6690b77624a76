"""Continuous batching seen from outside (acceptance 4): 32 simultaneous streams all complete with
correct SSE framing, and with greedy decoding each equals the same request run alone.

Tolerance: none. Every output must be identical, token for token, to the solo run: the engine's
batched forward pass computes each row as the single-row pass does (the CPU kernels quantize
activations per row; attention and norms are per row), so batching must not change a greedy id.

Both ways of holding the batch's keys and values run: each sequence's own cache (the CPU default)
and the shared batch buffers (model::BatchKVCache, the GPU default; PENSIEVE_BATCHED_KV=1 forces
it here), where rows of different lengths are right-aligned, padded, masked, compacted as
sequences leave, and moved back to their own cache for the prefix cache. With the shared buffers
greedy steps are queued before the previous one is read; the solo runs they are compared with
are not (PENSIEVE_PIPELINED_DECODE=0).
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
    """Each request run alone, per way of holding keys and values: the two compute attention with
    different kernels (Pensieve's CPU kernel, MLX's SDPA), whose roundings may part ways on the
    tiny random model's near-ties, so each is compared with itself."""
    from server_fixture import Server

    runs = {}

    def get(batched_kv: str) -> list[str]:
        if batched_kv not in runs:
            server = Server(pensieve_bin, tiny_model, "--parallel", "1",
                            env={"PENSIEVE_BATCHED_KV": batched_kv, "PENSIEVE_PIPELINED_DECODE": "0"})
            try:
                runs[batched_kv] = [anthropic_stream_text(stream_anthropic(server, body(i))) for i in range(STREAMS)]
            finally:
                server.assert_clean_exit()
        return runs[batched_kv]

    return get


@pytest.mark.parametrize("batched_kv", ["0", "1"])
@pytest.mark.parametrize("parallel", [32, 8])
def test_simultaneous_streams_equal_solo_runs(parallel, batched_kv, solo_outputs, start_server, pensieve_bin,
                                              tiny_model):
    solo = solo_outputs(batched_kv)
    server = start_server(pensieve_bin, tiny_model, "--parallel", str(parallel), "--max-queue", "64",
                          env={"PENSIEVE_BATCHED_KV": batched_kv})
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
        assert text == solo[i], f"stream {i}: batched {text!r} != solo {solo[i]!r}"
        if final["delta"]["stop_reason"] == "max_tokens":
            assert final["usage"]["output_tokens"] == MAX_TOKENS
    # Sequences really ran together, and with 8 slots the rest waited in the queue.
    assert peak["active"] > 1
    assert peak["active"] <= parallel
    if parallel < STREAMS:
        assert peak["queued"] > 0
    assert wait_until(lambda: server.metrics()["pensieve_active_sequences"] == 0, 5)
    m = server.metrics()
    assert m["pensieve_requests_finished_total"] == STREAMS
    # The shared buffers were used exactly when asked for, and nothing is left in them.
    assert (m["pensieve_batched_decode_steps_total"] > 0) == (batched_kv == "1")
    assert (m["pensieve_queued_decode_steps_total"] > 0) == (batched_kv == "1")
    assert m["pensieve_batch_kv_bytes"] == 0
    # A finished sequence's positions went back to its own cache intact: the same request again
    # reuses them from the prefix cache and gives the same text.
    long = dict(body(0), system=" ".join(f"Rule {i}: be brief about topic {i}." for i in range(20)))
    first = anthropic_stream_text(stream_anthropic(server, long))
    hits = server.metrics()["pensieve_prefix_cache_hits_total"]
    assert anthropic_stream_text(stream_anthropic(server, long)) == first
    assert server.metrics()["pensieve_prefix_cache_hits_total"] == hits + 1
