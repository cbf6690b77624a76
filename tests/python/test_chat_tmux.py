"""`pensieve chat` in a real terminal (tmux): a message's answer streams in, Ctrl-C stops it and
returns to the prompt, the next question is answered, /reset clears, Ctrl-C at the prompt does
not end the program, the arrow key recalls history, /quit leaves and the history is saved.

The tiny random model answers gibberish, but it answers: text appears and grows while generating
(-n is large, so the answer is still running when Ctrl-C comes)."""
import re
import shutil
import subprocess
import time
import uuid

import pytest

PROMPT = ">>> "


class Tmux:
    """One tmux server of our own (its own socket), so nothing else running tmux is touched."""

    def __init__(self, command, env):
        assert shutil.which("tmux"), "tmux is needed (scripts/setup.sh installs it)"
        self.socket = "pensieve-test-" + uuid.uuid4().hex[:8]
        self.run("new-session", "-d", "-s", "chat", "-x", "150", "-y", "45", *env_args(env), command)

    def run(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "chat", *keys)

    def type(self, text):
        self.run("send-keys", "-t", "chat", "-l", text)

    def screen(self):
        # -J joins wrapped lines; -S - takes the whole scrollback.
        return self.run("capture-pane", "-p", "-J", "-S", "-", "-t", "chat")

    def wait_for(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{self.screen()}")

    def close(self):
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def env_args(env):
    out = []
    for k, v in env.items():
        out += ["-e", f"{k}={v}"]
    return out


def after_last(screen, marker):
    return screen[screen.rindex(marker) + len(marker):]


def answer_after(screen, question):
    """The text printed after the line that asked `question` (the last time it was asked)."""
    return after_last(screen, PROMPT + question + "\n")


def visible(text):
    return len(re.sub(r"\s", "", text))


@pytest.fixture
def chat_terminal(pensieve_bin, tiny_model, tmp_path):
    history = tmp_path / "history"
    command = (f"{pensieve_bin} chat -m {tiny_model} -n 100000 --seed 11 --history-file {history}; "
               "echo CHAT-EXITED rc=$?; sleep 120")
    term = Tmux(command, {"HOME": str(tmp_path), "TERM": "xterm-256color", "LANG": "C.UTF-8"})
    yield term, history
    term.close()


def stream_then_stop(term, question):
    term.type(question)
    term.keys("Enter")
    # The answer arrives piece by piece: several different, growing lengths while it runs.
    sizes = []
    deadline = time.monotonic() + 30
    while len(set(sizes)) < 4 and time.monotonic() < deadline:
        screen = term.screen()
        if PROMPT + question + "\n" in screen:
            size = visible(answer_after(screen, question))
            if size > 0 and (not sizes or size >= sizes[-1]):
                sizes.append(size)
        time.sleep(0.02)
    assert len(set(sizes)) >= 4, f"the answer did not stream in: sizes {sizes}\n{term.screen()}"
    term.keys("C-c")
    screen = term.wait_for(lambda s: "(answer stopped)" in answer_after(s, question) and
                           s.rstrip().endswith(PROMPT.rstrip()), "the stopped answer and a new prompt")
    stopped = answer_after(screen, question)
    time.sleep(0.5)
    assert answer_after(term.screen(), question) == stopped, "text kept coming after Ctrl-C"
    assert "Traceback" not in screen and "error" not in stopped


def test_chat_in_a_terminal(chat_terminal):
    term, history = chat_terminal
    term.wait_for(lambda s: s.rstrip().endswith(PROMPT.rstrip()), "the first prompt")
    assert "/help" in term.screen()

    stream_then_stop(term, "Hello, who are you?")
    stream_then_stop(term, "Tell me more")

    term.type("/reset")
    term.keys("Enter")
    term.wait_for(lambda s: "(conversation cleared)" in s, "/reset's answer")

    # Ctrl-C with a half-typed line at the prompt: the line goes, the program stays.
    term.type("never sent")
    term.keys("C-c")
    term.wait_for(lambda s: "/quit or Ctrl-D leaves" in s and s.rstrip().endswith(PROMPT.rstrip()),
                  "the Ctrl-C hint and a fresh prompt")
    assert "CHAT-EXITED" not in term.screen()

    # Up arrow: the last entry (/reset) comes back for editing; Ctrl-C drops it again.
    term.keys("Up")
    term.wait_for(lambda s: s.rstrip().endswith(PROMPT + "/reset"), "history recall")
    term.keys("C-c")
    term.wait_for(lambda s: s.rstrip().endswith(PROMPT.rstrip()), "a fresh prompt")

    term.type("/quit")
    term.keys("Enter")
    term.wait_for(lambda s: "CHAT-EXITED rc=0" in s, "the program to end")
    saved = history.read_text()
    for entry in ("Hello,", "Tell", "/reset"):
        assert entry in saved, saved
    assert "never" not in saved
