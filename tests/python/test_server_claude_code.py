"""Claude Code itself against the server (acceptance 3): its native binary in print mode with
`--output-format json` completes a turn, exit 0, after sending its real system prompt and tools.

The model has random weights, so the answer is gibberish; what matters is that Claude Code accepts
the stream and that its whole prompt (system prompt and a dozen tool schemas, some 13k tokens)
reaches the model. A plain random model never ends its turn, and Claude Code answers stop_reason
max_tokens with "resume" turns and then fails, so the model here is one rigged to say <|end|>
after a dozen tokens or so (server_fixture.turn_ending_model). Claude Code runs offline: its configuration lives in a temporary HOME, and
telemetry, the auto-updater and other non-essential traffic are off.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

from server_fixture import ROOT_CLIENTS, start_server  # noqa: F401
from server_reference import turn_ending_model  # noqa: F401

CLAUDE = ROOT_CLIENTS / "node_modules" / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
API_KEY = "sk-pensieve-test"


def claude_env(server, home) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": API_KEY,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def test_claude_code_print_mode_completes_a_turn(start_server, pensieve_bin, tiny_model, tmp_path):
    assert CLAUDE.is_file(), f"{CLAUDE} is missing; run scripts/setup.sh"
    # The prompt is some 13k tokens; Claude Code asks for max_tokens 128000, clamped to the context.
    server = start_server(pensieve_bin, turn_ending_model(tiny_model), "--api-key", API_KEY,
                          "--ctx-size", "32768", log_level="debug")
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([str(CLAUDE), "-p", "Say hello.", "--output-format", "json"],
                          cwd=work, env=claude_env(server, home), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=150)
    stdout = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"claude exited {proc.returncode}\n{stdout}\n{proc.stderr.decode(errors='replace')}"
    result = json.loads(stdout)
    assert result["type"] == "result" and result["is_error"] is False, result
    assert result["subtype"] == "success"
    assert isinstance(result["result"], str)
    # The model ends its turn at any sampled token with probability ~8.5 % (turn_ending_model's
    # margin of 8), the first one included: then the turn is empty and 0 output tokens is right.
    assert result["usage"]["output_tokens"] > 0 or result["result"] == "", result

    # What the server received: the server logs each request's shape at debug level.
    shapes = re.findall(r"messages request: (\d+) messages, (\d+) tools, system prompt (\d+) chars, "
                        r"prompt (\d+) tokens", server.stderr())
    assert shapes, server.stderr()[-3000:]
    messages, tools, system_chars, prompt_tokens = map(int, shapes[0])
    assert tools >= 5, "Claude Code's tools did not arrive"
    assert system_chars >= 2000, "Claude Code's system prompt did not arrive"
    assert prompt_tokens >= 5000, "the system prompt and tools did not reach the model's prompt"
    metrics = server.metrics()
    assert metrics['pensieve_http_requests_total{route="/v1/messages",status="200"}'] >= 1
    assert metrics["pensieve_prompt_tokens_total"] >= prompt_tokens
    assert result["stop_reason"] == "end_turn" or result["num_turns"] >= 1
