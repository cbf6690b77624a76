// OpenAI /v1/chat/completions and /v1/completions request parsing, against bodies shaped as in
// the OpenAI API reference (and what the openai Python SDK sends).
#include <gtest/gtest.h>

#include "api/openai.h"

namespace pensieve::api {
namespace {

using nlohmann::json;

json chat_minimal() {
  return {{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

std::string chat_error(const json& body, std::string* param = nullptr) {
  try {
    openai::parse_chat_request(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind, ErrorKind::invalid_request);
    if (param) *param = e.param;
    return e.what();
  }
  return "";
}

std::string completion_error(const json& body) {
  try {
    openai::parse_completion_request(body);
  } catch (const ApiError& e) {
    return e.what();
  }
  return "";
}

TEST(OpenAIChatRequest, FullBody) {
  json body = json::parse(R"({
    "model": "gpt-4o-mini",
    "messages": [
      {"role": "developer", "content": "Answer in JSON."},
      {"role": "user", "content": [{"type": "text", "text": "Weather in "},
                                   {"type": "text", "text": "Paris?"}], "name": "ann"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
      {"role": "system", "content": [{"type": "text", "text": "late system"}]}
    ],
    "max_tokens": 50, "max_completion_tokens": 60,
    "temperature": 1.5, "top_p": 0.5, "top_k": 20, "min_p": 0.05,
    "presence_penalty": 0.5, "frequency_penalty": -0.5, "repetition_penalty": 1.1,
    "seed": 1234, "stop": ["\n\n", "END"], "logit_bias": {"50256": -100, "11": 2.5},
    "logprobs": true, "top_logprobs": 3, "n": 2,
    "stream": true, "stream_options": {"include_usage": true},
    "tools": [{"type": "function", "function": {"name": "get_weather",
      "description": "Weather", "strict": true,
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"], "additionalProperties": false}}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true,
      "schema": {"type": "object", "properties": {"t": {"type": "number"}}}}},
    "user": "u-1", "metadata": {"a": "b"}, "store": false, "service_tier": "auto"
  })");
  ChatRequest r = openai::parse_chat_request(body);
  EXPECT_EQ(r.model, "gpt-4o-mini");
  ASSERT_EQ(r.messages.size(), 5u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "Answer in JSON.");
  EXPECT_EQ(r.messages[1].content, "Weather in Paris?");
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "");
  ASSERT_EQ(r.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(r.messages[2].tool_calls[0].arguments, json({{"city", "Paris"}}));
  EXPECT_EQ(r.messages[3].role, "tool");
  EXPECT_EQ(r.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(r.messages[3].name, "get_weather");
  EXPECT_EQ(r.messages[4].role, "system");
  EXPECT_EQ(r.max_tokens, 60);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 20);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.sampling.seed, 1234u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_FLOAT_EQ(r.sampling.logit_bias.at(50256), -100.0f);
  EXPECT_FLOAT_EQ(r.sampling.logit_bias.at(11), 2.5f);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].input_schema["required"], json::array({"city"}));
  EXPECT_EQ(r.tool_choice, ToolChoice::tool);
  EXPECT_EQ(r.forced_tool, "get_weather");
  EXPECT_FALSE(r.parallel_tool_calls);
  EXPECT_EQ(r.response_format, ResponseFormat::json_schema);
  EXPECT_EQ(r.response_schema["properties"]["t"]["type"], "number");
}

TEST(OpenAIChatRequest, Defaults) {
  ChatRequest r = openai::parse_chat_request(chat_minimal());
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.top_logprobs, -1);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.response_format, ResponseFormat::text);
  EXPECT_EQ(r.tool_choice, ToolChoice::auto_);
  json body = chat_minimal();
  body["logprobs"] = true;
  body["stop"] = "STOP";
  body["tool_choice"] = "none";
  body["response_format"] = {{"type", "json_object"}};
  body["top_k"] = -1;
  r = openai::parse_chat_request(body);
  EXPECT_EQ(r.top_logprobs, 0);
  EXPECT_EQ(r.stop, std::vector<std::string>{"STOP"});
  EXPECT_EQ(r.tool_choice, ToolChoice::none);
  EXPECT_EQ(r.response_format, ResponseFormat::json_object);
  EXPECT_EQ(r.sampling.top_k, 0);
  // A function without parameters takes an empty object.
  body["tools"] = {{{"type", "function"}, {"function", {{"name", "now"}}}}};
  body["tool_choice"] = "required";
  r = openai::parse_chat_request(body);
  EXPECT_EQ(r.tool_choice, ToolChoice::any);
  EXPECT_EQ(r.tools[0].input_schema, json::parse(R"({"type": "object", "properties": {}})"));
}

TEST(OpenAIChatRequest, ErrorsNameTheField) {
  auto with = [](const char* key, json value) {
    json body = chat_minimal();
    body[key] = std::move(value);
    return chat_error(body);
  };
  EXPECT_EQ(with("temperature", 2.5), "temperature: expected a number in [0, 2], got 2.5");
  EXPECT_EQ(with("n", 9), "n: expected an integer in [1, 8], got 9");
  EXPECT_EQ(with("stop", {"a", "b", "c", "d", "e"}), "stop: at most 4 stop sequences are allowed");
  EXPECT_EQ(with("logit_bias", {{"abc", 1}}),
            "logit_bias: keys must be token ids (integers >= 0), got \"abc\"");
  EXPECT_EQ(with("logit_bias", {{"5", 101}}), "logit_bias.5: expected a number in [-100, 100], got 101");
  EXPECT_EQ(with("top_logprobs", 2), "top_logprobs: requires logprobs: true");
  EXPECT_EQ(with("presence_penalty", 3), "presence_penalty: expected a number in [-2, 2], got 3");
  EXPECT_EQ(with("max_tokens", 0), "max_tokens: expected an integer in [1, 2147483647], got 0");
  EXPECT_EQ(with("tool_choice", "required"), "tool_choice: \"required\" needs at least one tool");
  EXPECT_EQ(with("response_format", {{"type", "yaml"}}),
            "response_format.type: expected \"text\", \"json_object\" or \"json_schema\", got \"yaml\"");
  EXPECT_EQ(with("stream_options", {{"include_usage", 1}}),
            "stream_options.include_usage: expected true or false");

  json body = chat_minimal();
  body["messages"][0]["content"] = {
      {{"type", "text"}, {"text", "what is this"}},
      {{"type", "image_url"}, {"image_url", {{"url", "https://x/y.png"}}}}};
  std::string param;
  EXPECT_EQ(chat_error(body, &param),
            "messages.0.content.1: this model does not accept images (an \"image_url\" part)");
  EXPECT_EQ(param, "messages.0.content.1");
  body = chat_minimal();
  body["messages"].push_back(
      {{"role", "assistant"},
       {"tool_calls", {{{"id", "c"}, {"type", "function"},
                        {"function", {{"name", "f"}, {"arguments", "{bad"}}}}}}});
  EXPECT_EQ(chat_error(body), "messages.1.tool_calls.0.function.arguments: not valid JSON");
  body["messages"][1]["tool_calls"][0]["function"]["arguments"] = "[1]";
  EXPECT_EQ(chat_error(body), "messages.1.tool_calls.0.function.arguments: expected a JSON object");
  body = chat_minimal();
  body["messages"][0]["role"] = "function";
  EXPECT_EQ(chat_error(body),
            "messages.0.role: expected \"system\", \"developer\", \"user\", \"assistant\" or "
            "\"tool\", got \"function\"");
  body = chat_minimal();
  body["messages"] = {{{"role", "tool"}, {"content", "x"}}};
  EXPECT_EQ(chat_error(body), "messages.0.tool_call_id: field required");
  body = chat_minimal();
  body.erase("messages");
  EXPECT_EQ(chat_error(body), "messages: field required");
}

TEST(OpenAICompletionRequest, PromptShapes) {
  json body = {{"model", "m"}, {"prompt", "Once upon a time"}};
  ChatRequest r = openai::parse_completion_request(body);
  EXPECT_EQ(r.raw_prompt, "Once upon a time");
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.top_logprobs, -1);
  body["prompt"] = {"only one"};
  EXPECT_EQ(openai::parse_completion_request(body).raw_prompt, "only one");
  body["prompt"] = {1, 2, 3};
  EXPECT_EQ(openai::parse_completion_request(body).prompt_token_ids,
            (std::vector<int32_t>{1, 2, 3}));
  body["prompt"] = {{4, 5}};
  EXPECT_EQ(openai::parse_completion_request(body).prompt_token_ids, (std::vector<int32_t>{4, 5}));
  body["prompt"] = "x";
  body["echo"] = true;
  body["logprobs"] = 2;
  body["max_tokens"] = 5;
  body["suffix"] = "";
  r = openai::parse_completion_request(body);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_EQ(r.max_tokens, 5);
}

TEST(OpenAICompletionRequest, Errors) {
  json body = {{"model", "m"}, {"prompt", {"a", "b"}}};
  EXPECT_EQ(completion_error(body),
            "prompt: only one prompt per request is supported (got 2); use n for several completions");
  body["prompt"] = 5;
  EXPECT_EQ(completion_error(body),
            "prompt: expected a string, a list of token ids, or a list holding one of those");
  body["prompt"] = {1, -2};
  EXPECT_EQ(completion_error(body), "prompt.1: expected an integer in [0, 2147483647], got -2");
  body["prompt"] = "x";
  body["suffix"] = "end";
  EXPECT_EQ(completion_error(body),
            "suffix: not supported: this server does not do fill-in-the-middle");
  body.erase("suffix");
  body["logprobs"] = 6;
  EXPECT_EQ(completion_error(body), "logprobs: expected an integer in [0, 5], got 6");
  body.erase("prompt");
  EXPECT_EQ(completion_error(body), "prompt: field required");
}

}  // namespace
}  // namespace pensieve::api
