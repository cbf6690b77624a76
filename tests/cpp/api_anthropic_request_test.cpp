// Anthropic /v1/messages request parsing, against bodies shaped like the ones the Anthropic API
// reference documents and Claude Code 2.x sends.
#include <gtest/gtest.h>

#include "api/anthropic.h"

namespace pensieve::api {
namespace {

using nlohmann::json;

// The shape Claude Code sends (DESIGN.md, "What Claude Code sends"): system blocks with
// cache_control and the changing billing header first, tools with nested schemas, thinking,
// metadata, context_management, output_config, tool_use/tool_result turns and a system message
// in the middle of the conversation.
const char* kClaudeCodeBody = R"({
  "model": "claude-sonnet-4-5-20250929",
  "max_tokens": 128000,
  "stream": true,
  "system": [
    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.3.a1b; cc_entrypoint=sdk-cli; cch=1f2e3"},
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "You are an interactive CLI tool.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
  ],
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "<system-reminder>context</system-reminder>"},
      {"type": "text", "text": "List the files", "cache_control": {"type": "ephemeral"}}
    ]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "I should run ls", "signature": "abc"},
      {"type": "text", "text": "I'll list them."},
      {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls", "description": "List files"}}
    ]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.txt\nb.txt"},
      {"type": "text", "text": "Now count them."}
    ]},
    {"role": "system", "content": "The user switched to plan mode."},
    {"role": "assistant", "content": [
      {"type": "tool_use", "id": "toolu_01B", "name": "Read", "input": {"file_path": "/a.txt"}}
    ]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01B", "is_error": true,
       "content": [{"type": "text", "text": "No such file"}]}
    ]}
  ],
  "tools": [
    {"name": "Bash", "description": "Run a shell command",
     "input_schema": {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#",
       "properties": {"command": {"type": "string"}, "timeout": {"type": "number"},
                      "description": {"type": "string"}},
       "required": ["command"], "additionalProperties": false}},
    {"name": "TodoWrite", "description": "Update the todo list",
     "input_schema": {"type": "object", "properties": {"todos": {"type": "array", "items": {
       "type": "object", "properties": {"content": {"type": "string", "minLength": 1},
         "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]}},
       "required": ["content", "status"]}}}, "required": ["todos"]}},
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
  ],
  "tool_choice": {"type": "auto"},
  "metadata": {"user_id": "user_abc_account_def_session_123"},
  "thinking": {"type": "adaptive"},
  "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
  "output_config": {"effort": "high"},
  "service_tier": "auto",
  "temperature": 1
})";

ChatRequest parse(const std::string& text) {
  return anthropic::parse_messages_request(json::parse(text));
}

// The message of the ApiError that parsing `body` throws ("" when it does not throw).
std::string error_of(const json& body) {
  try {
    anthropic::parse_messages_request(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind, ErrorKind::invalid_request);
    return e.what();
  }
  return "";
}

json minimal() {
  return {{"model", "m"}, {"max_tokens", 10}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

TEST(AnthropicRequest, ClaudeCodeBody) {
  ChatRequest r = parse(kClaudeCodeBody);
  EXPECT_EQ(r.model, "claude-sonnet-4-5-20250929");
  EXPECT_EQ(r.max_tokens, 128000);
  EXPECT_TRUE(r.stream);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);

  ASSERT_EQ(r.messages.size(), 8u);
  // The billing header is gone; the remaining system blocks are joined by a blank line.
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content,
            "You are Claude Code, Anthropic's official CLI for Claude.\n\n"
            "You are an interactive CLI tool.");
  EXPECT_EQ(r.messages[1].role, "user");
  EXPECT_EQ(r.messages[1].content, "<system-reminder>context</system-reminder>\n\nList the files");
  // Thinking dropped; text and the call kept.
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "I'll list them.");
  ASSERT_EQ(r.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(r.messages[2].tool_calls[0].id, "toolu_01A");
  EXPECT_EQ(r.messages[2].tool_calls[0].name, "Bash");
  EXPECT_EQ(r.messages[2].tool_calls[0].arguments,
            json({{"command", "ls"}, {"description", "List files"}}));
  // The tool result comes first, named after the call it answers, then the turn's text.
  EXPECT_EQ(r.messages[3].role, "tool");
  EXPECT_EQ(r.messages[3].tool_call_id, "toolu_01A");
  EXPECT_EQ(r.messages[3].name, "Bash");
  EXPECT_EQ(r.messages[3].content, "a.txt\nb.txt");
  EXPECT_FALSE(r.messages[3].is_error);
  EXPECT_EQ(r.messages[4].role, "user");
  EXPECT_EQ(r.messages[4].content, "Now count them.");
  EXPECT_EQ(r.messages[5].role, "system");
  EXPECT_EQ(r.messages[5].content, "The user switched to plan mode.");
  EXPECT_EQ(r.messages[6].role, "assistant");
  EXPECT_EQ(r.messages[6].content, "");
  ASSERT_EQ(r.messages[6].tool_calls.size(), 1u);
  // A user turn of only a tool result adds no empty user message.
  EXPECT_EQ(r.messages[7].role, "tool");
  EXPECT_EQ(r.messages[7].name, "Read");
  EXPECT_EQ(r.messages[7].content, "No such file");
  EXPECT_TRUE(r.messages[7].is_error);

  // The server tool is ignored; the custom tools keep their nested schemas.
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0].name, "Bash");
  EXPECT_EQ(r.tools[0].description, "Run a shell command");
  EXPECT_EQ(r.tools[0].input_schema["required"], json::array({"command"}));
  EXPECT_EQ(r.tools[1].input_schema["properties"]["todos"]["items"]["properties"]["status"]["enum"]
                .size(),
            3u);
  EXPECT_EQ(r.tool_choice, ToolChoice::auto_);
}

TEST(AnthropicRequest, BillingHeaderDoesNotChangeThePrompt) {
  json a = json::parse(kClaudeCodeBody), b = a;
  b["system"][0]["text"] = "x-anthropic-billing-header: cc_version=2.1.4.ffe; cc_entrypoint=cli;";
  EXPECT_EQ(anthropic::parse_messages_request(a).messages[0].content,
            anthropic::parse_messages_request(b).messages[0].content);
  EXPECT_TRUE(anthropic::is_billing_header("x-anthropic-billing-header: cc_version=1"));
  EXPECT_FALSE(anthropic::is_billing_header("You are Claude Code"));
  // A system prompt of only the header leaves no system message.
  json only = minimal();
  only["system"] = json::array({{{"type", "text"}, {"text", "x-anthropic-billing-header: x"}}});
  EXPECT_EQ(anthropic::parse_messages_request(only).messages.size(), 1u);
}

TEST(AnthropicRequest, MinimalAndStringSystem) {
  json body = minimal();
  body["system"] = "Be brief.";
  body["stop_sequences"] = {"\n\nHuman:", "END"};
  body["top_p"] = 0.9;
  body["top_k"] = 40;
  body["temperature"] = 0;
  ChatRequest r = anthropic::parse_messages_request(body);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "Be brief.");
  EXPECT_EQ(r.messages[1].content, "hi");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\nHuman:", "END"}));
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.tools.empty());
}

TEST(AnthropicRequest, ToolChoiceKinds) {
  json body = minimal();
  body["tools"] = {{{"name", "get_weather"}, {"input_schema", {{"type", "object"}}}}};
  body["tool_choice"] = {{"type", "tool"}, {"name", "get_weather"},
                         {"disable_parallel_tool_use", true}};
  ChatRequest r = anthropic::parse_messages_request(body);
  EXPECT_EQ(r.tool_choice, ToolChoice::tool);
  EXPECT_EQ(r.forced_tool, "get_weather");
  EXPECT_FALSE(r.parallel_tool_calls);
  body["tool_choice"] = {{"type", "any"}};
  EXPECT_EQ(anthropic::parse_messages_request(body).tool_choice, ToolChoice::any);
  body["tool_choice"] = {{"type", "none"}};
  EXPECT_EQ(anthropic::parse_messages_request(body).tool_choice, ToolChoice::none);
  body["tool_choice"] = {{"type", "tool"}, {"name", "nope"}};
  EXPECT_EQ(error_of(body), "tool_choice.name: no tool named \"nope\"");
  body["tool_choice"] = {{"type", "sometimes"}};
  EXPECT_EQ(error_of(body),
            "tool_choice.type: expected \"auto\", \"any\", \"tool\" or \"none\", got \"sometimes\"");
}

TEST(AnthropicRequest, CountTokensNeedsNoMaxTokens) {
  json body = minimal();
  body.erase("max_tokens");
  EXPECT_FALSE(anthropic::parse_count_tokens_request(body).max_tokens.has_value());
  EXPECT_EQ(error_of(body), "max_tokens: field required");
}

TEST(AnthropicRequest, UnknownFieldsAndNullsAreIgnored) {
  json body = minimal();
  body["metadata"] = {{"user_id", 5}};
  body["some_future_field"] = {1, 2, 3};
  body["temperature"] = nullptr;
  body["system"] = nullptr;
  ChatRequest r = anthropic::parse_messages_request(body);
  EXPECT_EQ(r.messages.size(), 1u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
}

TEST(AnthropicRequest, ErrorsNameTheField) {
  auto with = [](const char* key, json value) {
    json body = minimal();
    body[key] = std::move(value);
    return error_of(body);
  };
  EXPECT_EQ(with("model", 3), "model: expected a string");
  EXPECT_EQ(with("max_tokens", 0), "max_tokens: expected an integer in [1, 2147483647], got 0");
  EXPECT_EQ(with("max_tokens", 1.5),
            "max_tokens: expected an integer in [1, 2147483647], got 1.5");
  EXPECT_EQ(with("max_tokens", "10"), "max_tokens: expected an integer in [1, 2147483647]");
  EXPECT_EQ(with("temperature", 1.5), "temperature: expected a number in [0, 1], got 1.5");
  EXPECT_EQ(with("top_p", 0), "top_p: expected a number in (0, 1], got 0");
  EXPECT_EQ(with("stream", "yes"), "stream: expected true or false");
  EXPECT_EQ(with("stop_sequences", "END"), "stop_sequences: expected a list");
  EXPECT_EQ(with("stop_sequences", {"a", ""}), "stop_sequences.1: must not be empty");
  EXPECT_EQ(with("messages", json::array()), "messages: at least one message is required");
  EXPECT_EQ(with("system", 7), "system: expected a string or a list of text blocks");
  EXPECT_EQ(with("tools", {{{"name", "x"}}}), "tools.0.input_schema: field required");

  json body = minimal();
  body.erase("model");
  EXPECT_EQ(error_of(body), "model: field required");
  body = minimal();
  body["messages"] = {{{"role", "user"}, {"content", "a"}},
                      {{"role", "assistant"}, {"content", "b"}},
                      {{"role", "user"}, {"content", 42}}};
  EXPECT_EQ(error_of(body),
            "messages.2.content: expected a string or a list of content blocks");
  body["messages"][2] = {{"role", "robot"}, {"content", "x"}};
  EXPECT_EQ(error_of(body), "messages.2.role: expected \"user\" or \"assistant\", got \"robot\"");
  body["messages"][2] = {{"role", "user"}, {"content", {{{"type", "text"}}}}};
  EXPECT_EQ(error_of(body), "messages.2.content.0.text: field required");
  body["messages"][2] = {{"role", "user"}, {"content", {{{"text", "x"}}}}};
  EXPECT_EQ(error_of(body), "messages.2.content.0.type: field required");
  body["messages"][2] = {{"role", "user"}, {"content", {{{"type", "video"}}}}};
  EXPECT_EQ(error_of(body), "messages.2.content.0.type: unsupported content block type \"video\"");
  body["messages"][2] = {{"role", "user"},
                         {"content", {{{"type", "tool_use"}, {"id", "t"}, {"name", "n"}}}}};
  EXPECT_EQ(error_of(body), "messages.2.content.0: tool_use blocks belong in assistant messages");
  EXPECT_EQ(error_of(json::array()), "the request body must be a JSON object");
}

TEST(AnthropicRequest, ImagesAreRefusedNamingTheBlock) {
  json body = minimal();
  body["messages"][0]["content"] = {
      {{"type", "text"}, {"text", "what is this?"}},
      {{"type", "image"},
       {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBOR"}}}}};
  EXPECT_EQ(error_of(body),
            "messages.0.content.1: this model does not accept images (an \"image\" block)");
  body["messages"][0]["content"][1] = {{"type", "document"}, {"source", json::object()}};
  EXPECT_EQ(error_of(body),
            "messages.0.content.1: this model does not accept documents (a \"document\" block)");
  // An image inside a tool result is refused too.
  body["messages"] = {
      {{"role", "assistant"},
       {"content", {{{"type", "tool_use"}, {"id", "t1"}, {"name", "shot"}, {"input", json::object()}}}}},
      {{"role", "user"},
       {"content",
        {{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", {{{"type", "image"}}}}}}}}};
  EXPECT_EQ(error_of(body),
            "messages.1.content.0.content.0: this model does not accept images (an \"image\" block)");
}

TEST(AnthropicRequest, ErrorCarriesTheFieldPath) {
  json body = minimal();
  body["max_tokens"] = -1;
  try {
    anthropic::parse_messages_request(body);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "max_tokens");
  }
}

}  // namespace
}  // namespace pensieve::api
