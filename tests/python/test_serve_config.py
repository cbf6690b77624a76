"""`pensieve serve` options from a config file and the environment: the command line wins over
the environment, the environment over the file; a [serve] section works too; a key that is no
option is an error naming it. At debug level the request body (the prompt) is logged."""
import json
import subprocess
import urllib.error
import urllib.request

from served import Server


def post(url, body, key):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_command_line_then_environment_then_file(pensieve_bin, tiny_model, tmp_path):
    config = tmp_path / "pensieve.toml"
    config.write_text(f'# comments are fine\n[serve]\nmodel = "{tiny_model}"\nport = 1\n'
                      f'api-key = "from-file"\nlog-level = "debug"\nmax_queue = 3\n')
    srv = Server(pensieve_bin, ["--config", config, "--port", "0"], env={"PENSIEVE_API_KEY": "from-env"})
    try:
        assert not srv.url.endswith(":1")  # --port 0 beat the file's port
        body = {"model": "m", "messages": [{"role": "user", "content": "a very particular prompt"}], "max_tokens": 2}
        assert post(srv.url + "/v1/chat/completions", body, "from-file") == 401
        assert post(srv.url + "/v1/chat/completions", body, "from-env") == 200
        srv.wait_for_log(r"debug request body: .*a very particular prompt")  # log-level from the file
        srv.wait_for_log(r"info\s+POST /v1/chat/completions 200 tokens_in=\d+ tokens_out=2 ")
    finally:
        srv.stop()


def test_unknown_key_in_the_config_file(pensieve_bin, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("prot = 8080\n")
    proc = subprocess.run([str(pensieve_bin), "serve", "--config", str(config)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {config}: `prot` is not an option of `serve`"
