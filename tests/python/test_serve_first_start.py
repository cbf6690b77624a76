"""`make run` on a machine that cannot reach the Hub and has nothing cached: `pensieve serve`
stops with a message that says so and how to pass a local model directory."""
import os
import socket
import subprocess


def refusing_socket():
    # Bound but never listening: connections to its port are refused, and the port stays taken
    # for the whole test (a closed one could be handed to `serve --port 0` itself, whose own
    # HTTP server would then answer the Hub requests with 404).
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


def test_serve_without_hub_or_cache_explains_how_to_pass_a_local_model(pensieve_bin, tmp_path):
    with refusing_socket() as hub:
        env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"),
                   HF_ENDPOINT=f"http://127.0.0.1:{hub.getsockname()[1]}",
                   PENSIEVE_HUB_RETRIES="2", PENSIEVE_HUB_BACKOFF_S="0.1")
        proc = subprocess.run([str(pensieve_bin), "serve", "--port", "0"], capture_output=True, text=True,
                              timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    assert "mlx-community/Phi-3-mini-128k-instruct-4bit" in last
    assert "cannot reach" in last and "-m /path/to/model" in last
