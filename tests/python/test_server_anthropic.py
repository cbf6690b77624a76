"""The Anthropic Messages API as the official `anthropic` SDK sees it (acceptance 1, less the
grammar-forced tool calls, which are in test_server_constrained.py).

The model has random weights, so text is gibberish: the tests check what must hold whatever the
text is — shapes, stop reasons, exact token counts against transformers' own chat template and
tokenizer, and greedy determinism.
"""
from __future__ import annotations

import anthropic
import pytest

from server_fixture import (anthropic_stream_text, check_anthropic_event_order, module_server,  # noqa: F401
                            stream_anthropic)
from server_reference import hf_tokenizer, reference_prompt_ids  # noqa: F401

MODEL = "claude-any-name"  # any name maps to the served model


@pytest.fixture(scope="module")
def client(module_server):
    # Closed at teardown: an idle keep-alive connection would hold up the server's exit.
    with anthropic.Anthropic(base_url=module_server.url, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


# The SDK has no sampling parameters any more; the API still takes them, so they go as extra body.
GREEDY = {"temperature": 0}


def greedy(client, content: str, max_tokens: int, **kw):
    return client.messages.create(model=MODEL, max_tokens=max_tokens, extra_body=GREEDY,
                                  messages=[{"role": "user", "content": content}], **kw)


def test_create_text_usage_equals_real_token_counts(client, hf_tokenizer):
    msg = greedy(client, "Tell me a story about a lighthouse.", 12)
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.model == MODEL
    assert [b.type for b in msg.content] == ["text"]
    assert msg.stop_reason in ("max_tokens", "end_turn")
    expected = reference_prompt_ids(hf_tokenizer, [{"role": "user", "content": "Tell me a story about a lighthouse."}])
    # input_tokens counts what was not read from the prefix cache (Anthropic's meaning).
    assert msg.usage.input_tokens + (msg.usage.cache_read_input_tokens or 0) == len(expected)
    if msg.stop_reason == "max_tokens":
        assert msg.usage.output_tokens == 12
    else:
        assert 1 <= msg.usage.output_tokens <= 12


def test_max_tokens_sets_stop_reason(client):
    msg = greedy(client, "Count to one hundred.", 3)
    assert msg.stop_reason == "max_tokens"
    assert msg.stop_sequence is None
    assert msg.usage.output_tokens == 3


def test_count_tokens_is_exact(client, hf_tokenizer):
    messages = [{"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Italy? Ünïcödé ✓ 日本語"}]
    count = client.messages.count_tokens(model=MODEL, messages=messages)
    assert count.input_tokens == len(reference_prompt_ids(hf_tokenizer, messages))


def test_count_tokens_system_prompt_reaches_the_prompt(client, hf_tokenizer):
    # Phi-3-mini-128k's template renders no system turn; the server folds the system prompt into
    # the first user turn (joined by a blank line) instead of losing it.
    system = "You are a terse assistant who answers in one word."
    count = client.messages.count_tokens(model=MODEL, system=[{"type": "text", "text": system}],
                                         messages=[{"role": "user", "content": "Hi"}])
    expected = reference_prompt_ids(hf_tokenizer, [{"role": "user", "content": system + "\n\nHi"}])
    assert count.input_tokens == len(expected)


def test_count_tokens_matches_create_usage(client):
    messages = [{"role": "user", "content": "Describe the sea in twenty words, please."}]
    count = client.messages.count_tokens(model=MODEL, messages=messages, system="Be kind.")
    msg = client.messages.create(model=MODEL, max_tokens=2, messages=messages, system="Be kind.")
    assert msg.usage.input_tokens + (msg.usage.cache_read_input_tokens or 0) == count.input_tokens


def test_stream_matches_create(client):
    kw = dict(model=MODEL, max_tokens=10, extra_body=GREEDY,
              messages=[{"role": "user", "content": "Write a haiku about rain."}])
    whole = client.messages.create(**kw)
    with client.messages.stream(**kw) as stream:
        deltas = [t for t in stream.text_stream]
        final = stream.get_final_message()
    assert "".join(deltas) == final.content[0].text == whole.content[0].text
    assert final.stop_reason == whole.stop_reason
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_stream_event_sequence(module_server):
    events = stream_anthropic(module_server, {"model": MODEL, "max_tokens": 6, "temperature": 0,
                                              "messages": [{"role": "user", "content": "Hello there"}]})
    check_anthropic_event_order(events)
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["usage"]["input_tokens"] > 0
    delta = [d for e, d in events if e == "message_delta"][0]
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert delta["usage"]["output_tokens"] == 6


def test_stop_sequences_are_honoured(client):
    full = greedy(client, "List some colours.", 24).content[0].text
    # A stop string from the middle of the greedy output: the same request stopped by it must
    # end right before its first occurrence.
    start = next(i for i in range(len(full) // 2, len(full) - 3) if full[i:i + 3].strip())
    stop = full[start:start + 3]
    msg = greedy(client, "List some colours.", 24, stop_sequences=[stop, "\u2603never"])
    assert msg.stop_reason == "stop_sequence"
    assert msg.stop_sequence == stop
    assert msg.content[0].text == full[: full.index(stop)]
    with client.messages.stream(model=MODEL, max_tokens=24, extra_body=GREEDY, stop_sequences=[stop],
                                messages=[{"role": "user", "content": "List some colours."}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == stop
    assert final.content[0].text == full[: full.index(stop)]


def test_unknown_fields_are_accepted(client):
    msg = client.messages.create(
        model="claude-opus-4-1", max_tokens=3,
        system=[{"type": "text", "text": "x-anthropic-billing-header: cc_version=1.0; cc_entrypoint=cli;"},
                {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]},
                  {"role": "system", "content": "A reminder in the middle of the conversation."}],
        metadata={"user_id": "someone"}, thinking={"type": "adaptive"}, output_config={"effort": "medium"},
        cache_control={"type": "ephemeral"},
        extra_body={"context_management": {"edits": []}, "some_future_field": [1, 2]},
        extra_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
        extra_query={"beta": "true"})
    assert msg.stop_reason == "max_tokens"


def test_tool_result_turn_is_accepted(client):
    tools = [{"name": "get_weather", "description": "Weather for a city",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]

    def conversation(result):
        return [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                                  {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                                   "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": result}]}]

    msg = client.messages.create(model=MODEL, max_tokens=4, tools=tools, messages=conversation("18C and sunny"))
    assert msg.stop_reason in ("max_tokens", "end_turn", "tool_use")
    # The result reaches the prompt: block content counts the same as the string, a longer
    # result counts more.
    short = client.messages.count_tokens(model=MODEL, tools=tools, messages=conversation("18C and sunny"))
    blocks = client.messages.count_tokens(model=MODEL, tools=tools,
                                          messages=conversation([{"type": "text", "text": "18C and sunny"}]))
    longer = client.messages.count_tokens(model=MODEL, tools=tools,
                                          messages=conversation("18C and sunny, light wind from the west"))
    assert short.input_tokens == blocks.input_tokens < longer.input_tokens
    # The tool list reaches the prompt too.
    without = client.messages.count_tokens(model=MODEL, messages=conversation("18C and sunny"))
    assert without.input_tokens < short.input_tokens


def test_tool_choice_auto_response_shape(client):
    tools = [{"name": "lookup", "description": "Look a word up",
              "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}}}]
    msg = client.messages.create(model=MODEL, max_tokens=16, tools=tools, tool_choice={"type": "auto"},
                                 messages=[{"role": "user", "content": "Define 'pensieve'."}])
    for block in msg.content:
        assert block.type in ("text", "tool_use")
        if block.type == "tool_use":
            assert block.id.startswith("toolu_") and block.name == "lookup" and isinstance(block.input, dict)
    assert msg.stop_reason in ("max_tokens", "end_turn", "tool_use")


def test_image_block_is_a_clear_400(client):
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "text", "text": "What is this?"}]}])
    assert err.value.status_code == 400
    body = err.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "image" in body["error"]["message"]


def test_errors_reach_the_sdk_typed(client):
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=MODEL, max_tokens=4, messages=[])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=MODEL, max_tokens=4, extra_body={"temperature": 3},
                               messages=[{"role": "user", "content": "hi"}])
