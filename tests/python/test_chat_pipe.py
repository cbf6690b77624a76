"""`pensieve chat` with stdin from a pipe (no terminal): multi-line input (backslash lines and
\"\"\" blocks), slash commands, and the conversation as the model sees it — each turn's prompt
(logged at debug level) must be what transformers' apply_chat_template makes of the
conversation with the model's own template."""
import json
import re
import subprocess

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast


def reference_prompt(model_dir, messages):
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()),
                                  bos_token=config.get("bos_token"), eos_token=config.get("eos_token"))
    return tok.apply_chat_template(messages, chat_template=config["chat_template"], tokenize=False,
                                   add_generation_prompt=True)


def chat(pensieve_bin, model, stdin, *args):
    proc = subprocess.run([str(pensieve_bin), "chat", "-m", str(model), "--log-level", "debug", *args],
                          input=stdin, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    prompts = [json.loads(m) for m in re.findall(r"debug prompt (\".*\")$", proc.stderr, re.M)]
    return proc, prompts


def test_multiline_input_commands_and_the_conversation(pensieve_bin, tiny_model):
    stdin = ("line one \\\n"
             "line two\n"
             '"""\n'
             "block a\n"
             "\n"
             "block b\n"
             '"""\n'
             "/system Be brief.\n"
             "/temp 0\n"
             "/nonsense\n"
             '"""on one line"""\n'
             "/reset\n"
             "after reset\n"
             "/quit\n"
             "never read\n")
    proc, prompts = chat(pensieve_bin, tiny_model, stdin, "-n", "3", "--seed", "5")
    answers = proc.stdout.split("\n\n")
    assert len(answers) == 5 and answers[4] == "", proc.stdout  # four answers, each then a blank line
    assert len(prompts) == 4, proc.stderr

    u1 = {"role": "user", "content": "line one \nline two"}
    a1 = {"role": "assistant", "content": answers[0]}
    u2 = {"role": "user", "content": "block a\n\nblock b"}
    a2 = {"role": "assistant", "content": answers[1]}
    system = {"role": "system", "content": "Be brief."}
    u3 = {"role": "user", "content": "on one line"}
    assert prompts[0] == reference_prompt(tiny_model, [u1])
    assert prompts[1] == reference_prompt(tiny_model, [u1, a1, u2])
    assert prompts[2] == reference_prompt(tiny_model, [system, u1, a1, u2, a2, u3])
    # After /reset only the system prompt is left.
    assert prompts[3] == reference_prompt(tiny_model, [system, {"role": "user", "content": "after reset"}])

    assert "(temperature 0)" in proc.stderr
    assert "unknown command /nonsense" in proc.stderr
    assert "(conversation cleared)" in proc.stderr
    assert "never read" not in proc.stderr


def test_greedy_answers_repeat_and_match_run(pensieve_bin, tiny_model):
    # At temperature 0 the chat's first answer is `pensieve run`'s for the same message.
    proc, _ = chat(pensieve_bin, tiny_model, "Hello\n", "--temp", "0", "-n", "12")
    run = subprocess.run([str(pensieve_bin), "run", "-m", str(tiny_model), "--temp", "0", "-n", "12", "Hello"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout and proc.stdout.rstrip("\n") == run.stdout.rstrip("\n")


def test_a_message_too_long_for_the_context_is_refused_and_the_chat_goes_on(pensieve_bin, tiny_model):
    proc, prompts = chat(pensieve_bin, tiny_model, "word " * 300 + "\nshort\n", "--ctx-size", "128", "-n", "2")
    assert re.search(r"^error: .*\(/reset starts a new conversation\)$", proc.stderr, re.M), proc.stderr
    assert len(prompts) == 2
    # The refused message is not kept: the next prompt holds only the short one.
    assert prompts[1] == reference_prompt(tiny_model, [{"role": "user", "content": "short"}])
    assert proc.stdout.strip()
