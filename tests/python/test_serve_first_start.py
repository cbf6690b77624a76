"""`make run` on a machine that cannot reach the Hub and has nothing cached: `pensieve serve`
stops with a message that says so and how to pass a local model directory."""
import os
import socket
import subprocess


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now: connections are refused
    return port


def test_serve_without_hub_or_cache_explains_how_to_pass_a_local_model(pensieve_bin, tmp_path):
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
               PENSIEVE_HUB_RETRIES="2", PENSIEVE_HUB_BACKOFF_S="0.1")
    proc = subprocess.run([str(pensieve_bin), "serve", "--port", "0"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    assert "mlx-community/Phi-3-mini-128k-instruct-4bit" in last
    assert "cannot reach" in last and "-m /path/to/model" in last
