"""The README against the binary: every flag the README shows for a command is in that
command's --help, every command has --help with examples, and the ```sh runnable blocks of
"Quick examples" run (against the tiny random model, with the test's MODEL and PORT)."""
import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text()
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def sh_blocks(info=r"sh[^\n]*"):
    return re.findall(r"^```" + info + r"\n(.*?)^```", README, re.M | re.S)


def documented_flags():
    """{command: {flags}} from every `pensieve COMMAND ...` in a sh block (with its \\
    continuations) or an inline code span, and from the list of `run`'s sampling flags."""
    lines = []
    for block in sh_blocks():
        lines += re.sub(r"\\\n\s*", " ", block).splitlines()
    lines += re.findall(r"(?<!`)`(pensieve [^`]+)`", README)
    flags = {}
    for line in lines:
        m = re.match(r"\s*(?:\S+=\S+\s+)*pensieve\s+([a-z]+)\b(.*)", line)
        if m:
            rest = m.group(2).split("#")[0]
            rest = re.sub(r"(['\"]).*?\1", "", rest)  # quoted arguments hold no flags
            flags.setdefault(m.group(1), set()).update(FLAG.findall(rest))
    sampling = re.search(r"flags of `run`:(.*?)\n\n", README, re.S)
    if sampling:
        flags.setdefault("run", set()).update(FLAG.findall(sampling.group(1)))
    return flags


def help_text(binary, *args):
    proc = subprocess.run([str(binary), *args, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def commands(binary):
    text = help_text(binary)
    section = text.split("Subcommands:")[1].split("\n\n")[0]
    return [line.split()[0] for line in section.strip().splitlines()]


def test_the_readme_documents_flags_the_commands_have(pensieve_bin):
    documented = documented_flags()
    known = commands(pensieve_bin)
    for command in ("run", "chat", "serve", "bench", "tokenize", "detokenize"):
        assert command in documented, f"the README shows no `pensieve {command}` line"
    for command, flags in documented.items():
        assert command in known, f"README mentions `pensieve {command}`, which does not exist"
        text = help_text(pensieve_bin, command)
        for flag in flags:
            assert re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text), \
                f"README documents {flag} for `pensieve {command}`; its --help does not have it:\n{text}"


def test_every_command_has_help_with_examples(pensieve_bin):
    top = help_text(pensieve_bin)
    assert "Examples:" in top
    for command in commands(pensieve_bin):
        text = help_text(pensieve_bin, command)
        assert f"pensieve {command}" in text.split("Examples:")[-1], f"`pensieve {command} --help` has no examples:\n{text}"


def test_version(pensieve_bin):
    proc = subprocess.run([str(pensieve_bin), "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    cmake = (ROOT / "CMakeLists.txt").read_text()
    version = re.search(r"project\(pensieve VERSION ([\d.]+)", cmake).group(1)
    assert proc.stdout.strip() == f"pensieve {version}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RUNNABLE = sh_blocks(r"sh runnable")


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_quick_example_runs(index, pensieve_bin, tiny_model, tmp_path):
    block = RUNNABLE[index]
    values = {"MODEL": str(tiny_model), "PORT": str(free_port())}
    script = re.sub(r"^export (MODEL|PORT)=.*$", lambda m: f"export {m.group(1)}={values[m.group(1)]}", block, flags=re.M)
    env = dict(os.environ, PATH=f"{pensieve_bin.parent}:{os.environ['PATH']}", HOME=str(tmp_path))
    # Its own process group: whatever the example leaves running (a server) ends with the test.
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, f"{script}\n---\n{out[-3000:]}\n{err[-3000:]}"
    assert out.strip(), "the example printed nothing"


def test_there_are_runnable_examples():
    assert len(RUNNABLE) >= 2
