"""The web chat page at GET /, in headless Chromium driven by Playwright (tests/web/): the
server runs the tiny random model from a config file that asks for an API key. The screenshot
taken after Stop is kept as build/artifacts/web-chat.png."""
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from served import Server

API_KEY = "web-test-key"


@pytest.fixture(scope="module")
def server(pensieve_bin, tiny_model, tmp_path_factory):
    config = tmp_path_factory.mktemp("serve") / "pensieve.toml"
    config.write_text(f'model = "{tiny_model}"\nport = 0\napi-key = "{API_KEY}"\n')
    srv = Server(pensieve_bin, ["--config", config])
    yield srv
    srv.stop()


def status_of(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_page_is_open_without_a_key_and_the_api_is_not(server):
    status, headers, body = status_of(server.url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"<title>Pensieve</title>" in body
    # Self-contained: no external script, style sheet or font (the browser test checks requests too).
    assert b"<script src" not in body and b"<link" not in body and b"@import" not in body
    assert status_of(server.url + "/v1/models")[0] == 401
    assert status_of(server.url + "/v1/models", {"Authorization": f"Bearer {API_KEY}"})[0] == 200


def test_chat_page_in_chromium(server, repo_root):
    node = shutil.which("node")
    assert node, "node is needed (scripts/setup.sh installs it)"
    assert (repo_root / "tests/clients/node_modules/playwright-core").is_dir(), "run scripts/setup.sh"
    shot = repo_root / "build" / "artifacts" / "web-chat.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    proc = subprocess.run([node, "--test", "--test-reporter=tap", str(repo_root / "tests/web/chat_page.test.mjs")],
                          capture_output=True, text=True, timeout=120, cwd=repo_root,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(repo_root / "build"),
                               "PENSIEVE_URL": server.url + "/", "PENSIEVE_API_KEY": API_KEY,
                               "PENSIEVE_SCREENSHOT": str(shot)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:] + "\nserver log:\n" + server.log()[-3000:]
    assert "# pass 4" in proc.stdout and "# fail 0" in proc.stdout, proc.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # One info line per request, with the figures of the finished generation; no prompt text.
    line = server.wait_for_log(r"info\s+POST /v1/chat/completions 200 tokens_in=\d+ tokens_out=\d+ ttft=\d")
    tokens_out = int(line.split("tokens_out=")[1].split()[0])
    assert 1 <= tokens_out <= 8  # the second question asked for at most 8 tokens
    assert "duration=" in line
    assert "long** story" not in server.log()
