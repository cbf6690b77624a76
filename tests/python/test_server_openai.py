"""The OpenAI chat and completions APIs as the official `openai` SDK sees them (acceptance 2, less
json_schema output and forced tool calls, which are in test_server_constrained.py)."""
from __future__ import annotations

import json
import math

import openai
import pytest

import mlx_reference
from server_fixture import module_server, start_server  # noqa: F401
from server_reference import hf_tokenizer, reference_prompt_ids  # noqa: F401

MODEL = "gpt-any-name"


@pytest.fixture(scope="module")
def client(module_server):
    # Closed at teardown: an idle keep-alive connection would hold up the server's exit.
    with openai.OpenAI(base_url=module_server.url + "/v1", api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def chat(client, content: str, **kw):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], **kw)


def test_chat_usage_equals_real_token_counts(client, hf_tokenizer):
    r = chat(client, "Name three rivers.", max_tokens=7, temperature=0)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl")
    choice = r.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert r.usage.prompt_tokens == len(reference_prompt_ids(hf_tokenizer, [{"role": "user", "content": "Name three rivers."}]))
    if choice.finish_reason == "length":
        assert r.usage.completion_tokens == 7
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_content_parts_and_max_completion_tokens(client, hf_tokenizer):
    r = client.chat.completions.create(
        model=MODEL, max_completion_tokens=2,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Name three"},
                                               {"type": "text", "text": "rivers."}]}])
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 2


def test_chat_stream_equals_non_stream_and_reports_usage(client):
    whole = chat(client, "Say something about owls.", max_tokens=9, temperature=0)
    chunks = list(chat(client, "Say something about owls.", max_tokens=9, temperature=0, stream=True,
                       stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    # include_usage: one last chunk with usage and no choices; the others carry none.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])
    no_usage = list(chat(client, "Say something about owls.", max_tokens=3, stream=True))
    assert all(c.usage is None for c in no_usage)


def check_logprobs_shape(content, k):
    for item in content:
        tops = item.top_logprobs
        assert len(tops) == k
        values = [t.logprob for t in tops]
        assert values == sorted(values, reverse=True)
        assert all(v <= 0 for v in values)
        assert sum(math.exp(v) for v in values) <= 1 + 1e-5
        # Greedy: the chosen token is the most likely one.
        assert item.token == tops[0].token and item.logprob == pytest.approx(tops[0].logprob, abs=1e-5)


def test_chat_logprobs_shape(client):
    r = chat(client, "The quick brown fox", max_tokens=5, temperature=0, logprobs=True, top_logprobs=5)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 5
    check_logprobs_shape(content, 5)
    streamed = list(chat(client, "The quick brown fox", max_tokens=5, temperature=0, logprobs=True,
                         top_logprobs=5, stream=True))
    tokens = [lp.token for c in streamed if c.choices and c.choices[0].logprobs for lp in c.choices[0].logprobs.content]
    assert tokens == [item.token for item in content]


def test_chat_logprobs_equal_mlx_lm(start_server, pensieve_bin, test_model, hf_tokenizer):
    # The values themselves against mlx-lm's log-softmax at the first generated position. On MLX's
    # own matmul (PENSIEVE_CPU_KERNELS=0) with a float32 KV cache the server computes as mlx-lm
    # does in float32; equal rope factors because mlx-lm always applies Phi-3's long factors. (The
    # CPU kernels quantize activations to 8 bits, which moves these values by up to ~0.4 on this
    # random model; the default float16 KV cache, by up to ~5e-3.)
    model = test_model("tiny", "4bit-g64", equal_rope_factors=True)
    server = start_server(pensieve_bin, model, "--kv-dtype", "float32", env={"PENSIEVE_CPU_KERNELS": "0"})
    with openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as client:
        r = chat(client, "The quick brown fox", max_tokens=1, temperature=0, logprobs=True, top_logprobs=8)
    content = r.choices[0].logprobs.content
    check_logprobs_shape(content, 8)
    prompt = reference_prompt_ids(hf_tokenizer, [{"role": "user", "content": "The quick brown fox"}])
    logits = mlx_reference.last_logits(str(model), prompt)
    top = max(logits)
    log_z = top + math.log(sum(math.exp(x - top) for x in logits))
    order = sorted(range(len(logits)), key=lambda i: -logits[i])[:8]
    assert [t.logprob for t in content[0].top_logprobs] == pytest.approx([logits[i] - log_z for i in order], abs=1e-4)
    assert [t.token for t in content[0].top_logprobs] == [hf_tokenizer.fast.decode([i]) for i in order]


def test_chat_n_choices_differ(client):
    r = chat(client, "Invent a word.", max_tokens=8, n=3, temperature=1.0, seed=7)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    texts = [c.message.content for c in r.choices]
    assert len(set(texts)) == 3, texts
    if all(c.finish_reason == "length" for c in r.choices):
        assert r.usage.completion_tokens == 3 * 8  # usage counts every choice's tokens
    # A seed makes the whole set reproducible.
    again = chat(client, "Invent a word.", max_tokens=8, n=3, temperature=1.0, seed=7)
    assert [c.message.content for c in again.choices] == texts
    streamed = list(chat(client, "Invent a word.", max_tokens=8, n=3, temperature=1.0, seed=7, stream=True))
    by_index = {i: "" for i in range(3)}
    for c in streamed:
        for ch in c.choices:
            by_index[ch.index] += ch.delta.content or ""
    assert [by_index[i] for i in range(3)] == texts


def test_completions(client, hf_tokenizer):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6, temperature=0)
    assert r.object == "text_completion" and r.choices[0].finish_reason in ("length", "stop")
    # A raw prompt gets BOS as the tokenizer config says (add_bos_token), then the text.
    assert r.usage.prompt_tokens == len(hf_tokenizer.fast.encode("Once upon a time", add_special_tokens=True).ids)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt="Once upon a time", max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == r.choices[0].text
    echoed = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6, temperature=0, echo=True)
    assert echoed.choices[0].text == "Once upon a time" + r.choices[0].text


def test_completions_prompt_as_token_ids(client, hf_tokenizer):
    ids = hf_tokenizer.fast.encode("Once upon a time", add_special_tokens=True).ids
    by_ids = client.completions.create(model=MODEL, prompt=ids, max_tokens=6, temperature=0)
    by_text = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6, temperature=0)
    assert by_ids.usage.prompt_tokens == len(ids)
    assert by_ids.choices[0].text == by_text.choices[0].text


def test_tool_calls_auto_response_shape(client):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    for stream in (False, True):
        kw = dict(model=MODEL, max_tokens=16, tools=tools, tool_choice="auto",
                  messages=[{"role": "user", "content": "Weather in Oslo?"}])
        if not stream:
            r = client.chat.completions.create(**kw)
            choice = r.choices[0]
            assert choice.finish_reason in ("stop", "length", "tool_calls")
            for call in choice.message.tool_calls or []:
                assert call.type == "function" and call.id.startswith("call_")
                assert call.function.name == "get_weather"
                assert isinstance(json.loads(call.function.arguments), dict)
        else:
            finishes = [c.choices[0].finish_reason for c in client.chat.completions.create(stream=True, **kw)
                        if c.choices and c.choices[0].finish_reason]
            assert len(finishes) == 1 and finishes[0] in ("stop", "length", "tool_calls")
    # The tool call and its result in the history are accepted.
    r = client.chat.completions.create(model=MODEL, max_tokens=4, tools=tools, messages=[
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "-3C, snow"}])
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_models_and_errors(client):
    models = client.models.list()
    assert len(models.data) == 1
    with pytest.raises(openai.BadRequestError) as err:
        chat(client, "hi", max_tokens=2, temperature=-1)
    assert err.value.status_code == 400
    assert err.value.body["type"] == "invalid_request_error" or err.value.code or err.value.body.get("message")
    with pytest.raises(openai.NotFoundError):
        client.post("/no/such/route", cast_to=object, body={})
