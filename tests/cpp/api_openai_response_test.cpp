// OpenAI responses and SSE streams, checked against the object shapes of the OpenAI API reference
// (the fields the openai SDK's ChatCompletion, ChatCompletionChunk and Completion types read).
#include <gtest/gtest.h>

#include "api/openai.h"

namespace pensieve::api {
namespace {

using nlohmann::json;

// Splits "data: …\n\n" events; checks the stream ends with exactly one "data: [DONE]".
std::vector<json> parse_stream(const std::string& bytes) {
  std::vector<json> events;
  std::size_t at = 0;
  bool done = false;
  while (at < bytes.size()) {
    std::size_t end = bytes.find("\n\n", at);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    std::string block = bytes.substr(at, end - at);
    at = end + 2;
    EXPECT_EQ(block.rfind("data: ", 0), 0u) << block;
    EXPECT_FALSE(done) << "data after [DONE]";
    if (block == "data: [DONE]") {
      done = true;
      continue;
    }
    events.push_back(json::parse(block.substr(6)));
  }
  EXPECT_TRUE(done);
  return events;
}

openai::TokenLogprob token(std::string bytes, float logprob,
                           std::vector<openai::TokenAlternative> top = {}) {
  return {std::move(bytes), logprob, std::move(top)};
}

TEST(OpenAIResponse, ChatCompletion) {
  openai::ChatResult result;
  result.id = "chatcmpl-1";
  result.model = "gpt-4o";
  result.created = 1700000000;
  openai::ChatChoice text;
  text.text = "Hi";
  text.stop = StopKind::end_turn;
  text.logprobs = std::vector<openai::TokenLogprob>{
      token("Hi", -0.25f, {{"Hi", -0.25f}, {"Hello", -1.5f}})};
  openai::ChatChoice tools;
  tools.tool_calls = {{"call_1", "get_weather", {{"city", "Paris"}}}};
  tools.stop = StopKind::tool_use;
  result.choices = {text, tools};
  result.usage = {12, 8, 3};
  json expected = json::parse(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
    "choices": [
      {"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null},
       "logprobs": {"content": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105],
          "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
                           {"token": "Hello", "logprob": -1.5, "bytes": [72, 101, 108, 108, 111]}]}],
                    "refusal": null},
       "finish_reason": "stop"},
      {"index": 1, "message": {"role": "assistant", "content": null, "refusal": null,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
       "logprobs": null, "finish_reason": "tool_calls"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 8}}
  })");
  EXPECT_EQ(openai::chat_response(result), expected);
}

TEST(OpenAIResponse, LogprobEdgeCases) {
  // A token ending inside a UTF-8 character: text gets U+FFFD, bytes stay raw; -inf → -9999.
  json lp = openai::chat_logprobs({token("\xe2\x82", -std::numeric_limits<float>::infinity())});
  EXPECT_EQ(lp["content"][0]["token"], "\xef\xbf\xbd");
  EXPECT_EQ(lp["content"][0]["bytes"], json::array({0xe2, 0x82}));
  EXPECT_EQ(lp["content"][0]["logprob"], -9999.0);
  EXPECT_EQ(openai::finish_reason(StopKind::max_tokens), "length");
  EXPECT_EQ(openai::finish_reason(StopKind::stop_sequence), "stop");
}

TEST(OpenAIResponse, TextCompletion) {
  openai::CompletionResult result;
  result.id = "cmpl-1";
  result.model = "m";
  result.created = 5;
  openai::CompletionChoice choice;
  choice.text = "Hello world";
  choice.stop = StopKind::max_tokens;
  choice.logprobs = std::vector<openai::TokenLogprob>{
      token("Hello", -0.5f, {{"Hello", -0.5f}, {"Hi", -2.0f}}), token(" world", -1.0f, {{" world", -1.0f}})};
  choice.text_offsets = {0, 5};
  result.choices = {choice};
  result.usage = {4, 0, 2};
  json expected = json::parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 5, "model": "m",
    "choices": [{"index": 0, "text": "Hello world", "finish_reason": "length",
      "logprobs": {"tokens": ["Hello", " world"], "token_logprobs": [-0.5, -1.0],
                   "top_logprobs": [{"Hello": -0.5, "Hi": -2.0}, {" world": -1.0}],
                   "text_offset": [0, 5]}}],
    "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6,
              "prompt_tokens_details": {"cached_tokens": 0}}
  })");
  EXPECT_EQ(openai::completion_response(result), expected);
}

TEST(OpenAIResponse, ModelsAndErrors) {
  EXPECT_EQ(openai::models_response({"phi-3"}, 42), json::parse(R"({"object": "list", "data": [
      {"id": "phi-3", "object": "model", "created": 42, "owned_by": "pensieve"}]})"));
  EXPECT_EQ(openai::error_body(ApiError(ErrorKind::invalid_request, "n: bad", "n")),
            json::parse(R"({"error": {"message": "n: bad", "type": "invalid_request_error",
                                      "param": "n", "code": null}})"));
  EXPECT_EQ(openai::error_body(ApiError(ErrorKind::authentication, "no key")),
            json::parse(R"({"error": {"message": "no key", "type": "authentication_error",
                                      "param": null, "code": null}})"));
  EXPECT_EQ(openai::error_type(ErrorKind::overloaded), "rate_limit_error");
  EXPECT_EQ(openai::error_type(ErrorKind::internal), "server_error");
  EXPECT_EQ(openai::new_chat_id().rfind("chatcmpl-", 0), 0u);
}

TEST(OpenAIStream, ChatChunksWithToolsAndUsage) {
  openai::ChatStreamWriter w("chatcmpl-9", "m", 77, 2, true);
  ToolCallParser parser(std::string(openai::kToolIdPrefix));
  std::string bytes = w.text(0, "Hel");
  bytes += w.text(0, "lo");
  for (const char* chunk : {"<tool_call>{\"name\": \"f\", \"arguments\": {\"a\"",
                            ": 1}}</tool_call><tool_call>{\"name\": \"g\", \"arguments\": {}}"}) {
    for (const auto& piece : parser.push(chunk)) bytes += w.write(1, piece);
  }
  for (const auto& piece : parser.finish()) bytes += w.write(1, piece);
  bytes += w.finish(0, StopKind::end_turn);
  bytes += w.finish(1, StopKind::tool_use);
  bytes += w.done({10, 0, 7});
  auto events = parse_stream(bytes);

  // Rebuild each choice the way the SDK's stream helpers merge deltas.
  std::vector<json> messages(2, json::object());
  std::vector<std::string> finish(2);
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["id"], "chatcmpl-9");
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["created"], 77);
    EXPECT_EQ(e["model"], "m");
    EXPECT_TRUE(e.contains("usage") && e["usage"].is_null());
    ASSERT_EQ(e["choices"].size(), 1u);
    const json& c = e["choices"][0];
    std::size_t index = c["index"];
    json& m = messages[index];
    EXPECT_TRUE(finish[index].empty()) << "delta after finish";
    if (c["finish_reason"].is_string()) finish[index] = c["finish_reason"];
    const json& d = c["delta"];
    if (d.contains("role")) {
      EXPECT_FALSE(m.contains("role")) << "role twice";
      m["role"] = d["role"];
    } else {
      EXPECT_TRUE(m.contains("role")) << "first chunk of a choice must carry the role";
    }
    if (d.contains("content")) m["content"] = m.value("content", "") + d["content"].get<std::string>();
    if (d.contains("tool_calls")) {
      for (const auto& call : d["tool_calls"]) {
        std::size_t k = call["index"];
        if (call.contains("id")) {
          EXPECT_EQ(k, m.value("tool_calls", json::array()).size()) << "tool indexes in order";
          m["tool_calls"].push_back({{"id", call["id"]}, {"name", call["function"]["name"]},
                                     {"arguments", call["function"]["arguments"]}});
        } else {
          json& target = m["tool_calls"][k];
          target["arguments"] = target["arguments"].get<std::string>() +
                                call["function"]["arguments"].get<std::string>();
        }
      }
    }
  }
  EXPECT_EQ(messages[0]["content"], "Hello");
  EXPECT_EQ(finish[0], "stop");
  EXPECT_EQ(finish[1], "tool_calls");
  ASSERT_EQ(messages[1]["tool_calls"].size(), 2u);
  EXPECT_EQ(messages[1]["tool_calls"][0]["name"], "f");
  EXPECT_EQ(json::parse(messages[1]["tool_calls"][0]["arguments"].get<std::string>()),
            json({{"a", 1}}));
  EXPECT_EQ(messages[1]["tool_calls"][0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(messages[1]["tool_calls"][1]["name"], "g");
  EXPECT_EQ(messages[1]["tool_calls"][1]["arguments"], "{}");
  // The usage chunk: no choices, usage filled.
  EXPECT_EQ(events.back()["choices"], json::array());
  EXPECT_EQ(events.back()["usage"], json::parse(R"({"prompt_tokens": 10, "completion_tokens": 7,
      "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 0}})"));
}

TEST(OpenAIStream, ExactBytesWithoutUsage) {
  openai::ChatStreamWriter w("c", "m", 1, 1, false);
  // One statement each: the operands of + are evaluated in no fixed order.
  std::string bytes = w.text(0, "A", nullptr);
  bytes += w.finish(0, StopKind::max_tokens);
  bytes += w.done({});
  EXPECT_EQ(bytes,
            "data: {\"choices\":[{\"delta\":{\"content\":\"\",\"role\":\"assistant\"},\"finish_reason\":null,"
            "\"index\":0,\"logprobs\":null}],\"created\":1,\"id\":\"c\",\"model\":\"m\","
            "\"object\":\"chat.completion.chunk\"}\n\n"
            "data: {\"choices\":[{\"delta\":{\"content\":\"A\"},\"finish_reason\":null,\"index\":0,"
            "\"logprobs\":null}],\"created\":1,\"id\":\"c\",\"model\":\"m\","
            "\"object\":\"chat.completion.chunk\"}\n\n"
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\",\"index\":0,"
            "\"logprobs\":null}],\"created\":1,\"id\":\"c\",\"model\":\"m\","
            "\"object\":\"chat.completion.chunk\"}\n\n"
            "data: [DONE]\n\n");
}

TEST(OpenAIStream, LogprobsInChunksAndErrors) {
  openai::ChatStreamWriter w("c", "m", 1, 1, false);
  std::vector<openai::TokenLogprob> lp{token("A", -0.1f)};
  std::string bytes = w.text(0, "A", &lp);
  bytes += w.error(ApiError(ErrorKind::internal, "boom"));
  auto events = parse_stream(bytes);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1]["choices"][0]["logprobs"]["content"][0]["token"], "A");
  EXPECT_EQ(events[2], json::parse(R"({"error": {"message": "boom", "type": "server_error",
                                                 "param": null, "code": null}})"));
  EXPECT_EQ(w.done({}), "");
}

TEST(OpenAIStream, CompletionChunks) {
  openai::CompletionStreamWriter w("cmpl-2", "m", 3, true);
  std::vector<openai::TokenLogprob> lp{token(" there", -0.3f, {{" there", -0.3f}})};
  std::vector<int> offsets{2};
  std::string bytes = w.text(0, "Hi");
  bytes += w.text(0, " there", &lp, &offsets);
  bytes += w.finish(0, StopKind::end_turn);
  bytes += w.done({2, 0, 2});
  auto events = parse_stream(bytes);
  ASSERT_EQ(events.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i]["object"], "text_completion");
    EXPECT_TRUE(events[i]["usage"].is_null());
  }
  EXPECT_EQ(events[0]["choices"][0]["text"], "Hi");
  EXPECT_EQ(events[1]["choices"][0]["logprobs"],
            json::parse(R"({"tokens": [" there"], "token_logprobs": [-0.30000001192092896],
                            "top_logprobs": [{" there": -0.30000001192092896}], "text_offset": [2]})"));
  EXPECT_EQ(events[2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(events[3]["usage"]["total_tokens"], 4);
}

}  // namespace
}  // namespace pensieve::api
