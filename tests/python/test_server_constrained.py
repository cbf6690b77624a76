"""Grammar-constrained decoding through the APIs: forced tool calls whose input validates against
the tool's JSON schema, and json_schema / json_object output (acceptance 1 and 2, the parts that
need the grammar). The model has random weights, so only the grammar can make these hold: every
forced call must parse and validate, 10 times out of 10.
"""
from __future__ import annotations

import json

import anthropic
import jsonschema
import openai
import pytest

from server_fixture import module_server  # noqa: F401

RUNS = 10
MAX_TOKENS = 400  # room for the whole object: the schema bounds every string, number and array

# Nested objects, arrays, enums, bounded strings and integers, optional and required fields.
ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 12},
                "tier": {"type": "string", "enum": ["free", "pro", "team"]},
            },
            "required": ["name", "tier"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "maxLength": 8},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                    "gift": {"type": "boolean"},
                },
                "required": ["sku", "quantity"],
                "additionalProperties": False,
            },
        },
        "express": {"type": "boolean"},
    },
    "required": ["customer", "items"],
    "additionalProperties": False,
}

TOOLS = [
    {"name": "place_order", "description": "Place an order", "input_schema": ORDER_SCHEMA},
    {"name": "cancel_order", "description": "Cancel an order",
     "input_schema": {"type": "object", "properties": {"order_id": {"type": "string", "maxLength": 10}},
                      "required": ["order_id"], "additionalProperties": False}},
]
OPENAI_TOOLS = [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                                  "parameters": t["input_schema"]}} for t in TOOLS]
SCHEMAS = {t["name"]: t["input_schema"] for t in TOOLS}


@pytest.fixture(scope="module")
def claude(module_server):
    with anthropic.Anthropic(base_url=module_server.url, api_key="unused", max_retries=0, timeout=300) as c:
        yield c


@pytest.fixture(scope="module")
def oai(module_server):
    with openai.OpenAI(base_url=module_server.url + "/v1", api_key="unused", max_retries=0, timeout=300) as c:
        yield c


def test_anthropic_forced_tool_validates_every_time(claude):
    for i in range(RUNS):
        msg = claude.messages.create(
            model="m", max_tokens=MAX_TOKENS, tools=TOOLS, tool_choice={"type": "tool", "name": "place_order"},
            extra_body={"temperature": 1.0},
            messages=[{"role": "user", "content": f"Order number {i}: two pens for Ada, please."}])
        calls = [b for b in msg.content if b.type == "tool_use"]
        assert msg.stop_reason == "tool_use", msg
        assert len(calls) >= 1 and calls[0].name == "place_order"
        assert calls[0].id.startswith("toolu_")
        jsonschema.validate(calls[0].input, ORDER_SCHEMA)

        # Then the tool_result turn.
        follow = claude.messages.create(model="m", max_tokens=8, tools=TOOLS, messages=[
            {"role": "user", "content": f"Order number {i}: two pens for Ada, please."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": calls[0].id, "name": "place_order",
                                               "input": calls[0].input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id,
                                          "content": "order 1234 placed"}]}])
        assert follow.stop_reason in ("end_turn", "max_tokens", "tool_use")


def test_anthropic_tool_choice_any_validates(claude):
    for i in range(RUNS):
        msg = claude.messages.create(model="m", max_tokens=MAX_TOKENS, tools=TOOLS, tool_choice={"type": "any"},
                                     messages=[{"role": "user", "content": f"Request {i}"}])
        calls = [b for b in msg.content if b.type == "tool_use"]
        assert msg.stop_reason == "tool_use" and calls, msg
        for call in calls:
            jsonschema.validate(call.input, SCHEMAS[call.name])


def test_anthropic_forced_tool_streamed(claude):
    for i in range(3):
        with claude.messages.stream(model="m", max_tokens=MAX_TOKENS, tools=TOOLS,
                                    tool_choice={"type": "tool", "name": "place_order"},
                                    messages=[{"role": "user", "content": f"Stream order {i}"}]) as stream:
            partial = "".join(e.delta.partial_json for e in stream
                              if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
            final = stream.get_final_message()
        calls = [b for b in final.content if b.type == "tool_use"]
        assert final.stop_reason == "tool_use" and calls
        assert json.loads(partial) == calls[0].input
        jsonschema.validate(calls[0].input, ORDER_SCHEMA)


def test_openai_forced_tool_call_validates(oai):
    for i in range(RUNS):
        r = oai.chat.completions.create(
            model="m", max_tokens=MAX_TOKENS, tools=OPENAI_TOOLS,
            tool_choice={"type": "function", "function": {"name": "place_order"}},
            messages=[{"role": "user", "content": f"Order {i}"}])
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        call = choice.message.tool_calls[0]
        assert call.function.name == "place_order"
        jsonschema.validate(json.loads(call.function.arguments), ORDER_SCHEMA)


def test_openai_tool_choice_required(oai):
    for i in range(RUNS):
        r = oai.chat.completions.create(model="m", max_tokens=MAX_TOKENS, tools=OPENAI_TOOLS, tool_choice="required",
                                        messages=[{"role": "user", "content": f"Request {i}"}])
        calls = r.choices[0].message.tool_calls
        assert r.choices[0].finish_reason == "tool_calls" and calls
        for call in calls:
            jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_openai_json_schema_output_validates(oai):
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER_SCHEMA, "strict": True}}
    for i in range(RUNS):
        r = oai.chat.completions.create(model="m", max_tokens=MAX_TOKENS, response_format=fmt,
                                        messages=[{"role": "user", "content": f"Describe order {i} as JSON"}])
        assert r.choices[0].finish_reason == "stop", r
        jsonschema.validate(json.loads(r.choices[0].message.content), ORDER_SCHEMA)
    streamed = oai.chat.completions.create(model="m", max_tokens=MAX_TOKENS, response_format=fmt, stream=True,
                                           messages=[{"role": "user", "content": "Order as JSON, streamed"}])
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    jsonschema.validate(json.loads(text), ORDER_SCHEMA)


def test_openai_json_object_output_parses(oai):
    for i in range(RUNS):
        r = oai.chat.completions.create(model="m", max_tokens=MAX_TOKENS, response_format={"type": "json_object"},
                                        messages=[{"role": "user", "content": f"Any JSON object, number {i}"}])
        if r.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(r.choices[0].message.content), dict)
        else:  # an unbounded object may run out of tokens; what there is must still be a JSON prefix
            assert r.choices[0].message.content.lstrip().startswith("{")
