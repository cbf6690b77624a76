"""Prefix cache seen from outside (acceptance 5): a second request that shares a long prefix with
an earlier one reports the reused tokens (Anthropic cache_read_input_tokens, OpenAI
prompt_tokens_details.cached_tokens), also when only Claude Code's changing first system line
differs, and reusing the cache does not change a greedy answer."""
from __future__ import annotations

import anthropic
import openai
import pytest

from server_fixture import module_server  # noqa: F401
from server_reference import hf_tokenizer  # noqa: F401

# About 600 tokens of a fixed system prompt; each test puts its own tag in front so that tests do
# not share a prefix.
SYSTEM = " ".join(f"Rule {i}: answer questions about topic number {i} briefly and politely." for i in range(45))


def billing_header(build: str) -> str:
    # The shape Claude Code puts first in `system`: it changes between requests.
    return f"x-anthropic-billing-header: cc_version=2.1.{build}; cc_entrypoint=cli; cch={build}0f;"


@pytest.fixture(scope="module")
def claude(module_server):
    with anthropic.Anthropic(base_url=module_server.url, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def oai(module_server):
    with openai.OpenAI(base_url=module_server.url + "/v1", api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def test_system_prompt_is_long_enough(hf_tokenizer):
    assert len(hf_tokenizer.encode(SYSTEM)) >= 600


def test_anthropic_second_request_reads_the_cache(claude, module_server):
    hits_before = module_server.metrics()["pensieve_prefix_cache_hits_total"]
    first = claude.messages.create(model="m", max_tokens=2, system="(anthropic) " + SYSTEM,
                                   messages=[{"role": "user", "content": "What is topic 3?"}])
    second = claude.messages.create(model="m", max_tokens=2, system="(anthropic) " + SYSTEM,
                                    messages=[{"role": "user", "content": "And what about topic 41?"}])
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens >= 600
    total = first.usage.input_tokens
    assert second.usage.cache_read_input_tokens < total  # only the shared part
    assert module_server.metrics()["pensieve_prefix_cache_hits_total"] >= hits_before + 1


def test_streamed_usage_reports_the_cache(claude):
    kw = dict(model="m", max_tokens=2, system="(stream) " + SYSTEM)
    claude.messages.create(messages=[{"role": "user", "content": "Topic 1?"}], **kw)
    with claude.messages.stream(messages=[{"role": "user", "content": "Topic 2?"}], **kw) as stream:
        final = stream.get_final_message()
    # message_start goes out before the cache is looked up; message_delta carries the final counts.
    assert final.usage.cache_read_input_tokens >= 600
    whole = claude.messages.count_tokens(model="m", system=kw["system"], messages=[{"role": "user", "content": "Topic 2?"}])
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == whole.input_tokens


def test_openai_second_request_reports_cached_tokens(oai):
    def ask(question):
        return oai.chat.completions.create(model="m", max_tokens=2, messages=[
            {"role": "system", "content": "(openai) " + SYSTEM}, {"role": "user", "content": question}])

    first, second = ask("Topic 5?"), ask("Topic 17, please?")
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens >= 600
    assert second.usage.prompt_tokens_details.cached_tokens < second.usage.prompt_tokens


def test_changing_billing_header_keeps_the_cache(claude):
    def ask(build):
        return claude.messages.create(model="m", max_tokens=2, messages=[{"role": "user", "content": "Hello"}],
                                      system=[{"type": "text", "text": billing_header(build)},
                                              {"type": "text", "text": "(claude code) " + SYSTEM,
                                               "cache_control": {"type": "ephemeral"}}])

    first, second = ask("101"), ask("202")
    assert first.usage.cache_read_input_tokens == 0
    # Everything but the last prompt token comes from the cache: the header line is not in the prompt.
    assert second.usage.cache_read_input_tokens >= 600
    assert second.usage.input_tokens + second.usage.cache_read_input_tokens == first.usage.input_tokens


def test_cache_hit_gives_the_same_greedy_answer(claude):
    kw = dict(model="m", max_tokens=16, system="(determinism) " + SYSTEM, extra_body={"temperature": 0},
              messages=[{"role": "user", "content": "Summarise rule 7."}])
    cold = claude.messages.create(**kw)
    warm = claude.messages.create(**kw)
    assert cold.usage.cache_read_input_tokens == 0 and warm.usage.cache_read_input_tokens > 0
    assert warm.content[0].text == cold.content[0].text
