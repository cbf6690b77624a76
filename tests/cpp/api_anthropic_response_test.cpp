// Anthropic responses, errors and SSE streams, checked against the shapes in the Messages API
// reference and the fields the anthropic SDK's types read (Message, Usage, the stream events).
#include <gtest/gtest.h>

#include "api/anthropic.h"

namespace pensieve::api {
namespace {

using nlohmann::json;

struct Event {
  std::string name;
  json data;
};

// Splits SSE bytes into events, checking the framing: every event is "event: NAME\ndata: JSON"
// followed by a blank line, and the event name equals data.type.
std::vector<Event> parse_sse(const std::string& bytes) {
  std::vector<Event> events;
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t end = bytes.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event";
    if (end == std::string::npos) break;
    std::string block = bytes.substr(at, end - at);
    at = end + 2;
    std::size_t newline = block.find('\n');
    EXPECT_EQ(block.rfind("event: ", 0), 0u) << block;
    EXPECT_EQ(block.compare(newline + 1, 6, "data: "), 0) << block;
    EXPECT_EQ(block.find('\n', newline + 1), std::string::npos) << "data spans lines: " << block;
    Event event{block.substr(7, newline - 7), json::parse(block.substr(newline + 7))};
    EXPECT_EQ(event.name, event.data["type"]);
    events.push_back(std::move(event));
  }
  return events;
}

// Rebuilds the final message from stream events the way the SDK's accumulator does, checking
// the event order rules on the way (block indexes consecutive from 0, deltas only into the open
// block).
json accumulate(const std::vector<Event>& events) {
  json message;
  int open = -1;
  std::vector<std::string> json_buffers;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json& d = events[i].data;
    const std::string& type = events[i].name;
    if (type == "message_start") {
      EXPECT_EQ(i, 0u);
      message = d["message"];
    } else if (type == "ping") {
    } else if (type == "content_block_start") {
      EXPECT_EQ(open, -1);
      EXPECT_EQ(d["index"], message["content"].size());
      open = d["index"];
      message["content"].push_back(d["content_block"]);
      json_buffers.emplace_back();
    } else if (type == "content_block_delta") {
      EXPECT_EQ(d["index"], open);
      json& block = message["content"][static_cast<std::size_t>(open)];
      if (d["delta"]["type"] == "text_delta") {
        EXPECT_EQ(block["type"], "text");
        block["text"] = block["text"].get<std::string>() + d["delta"]["text"].get<std::string>();
      } else {
        EXPECT_EQ(d["delta"]["type"], "input_json_delta");
        EXPECT_EQ(block["type"], "tool_use");
        json_buffers[static_cast<std::size_t>(open)] += d["delta"]["partial_json"].get<std::string>();
      }
    } else if (type == "content_block_stop") {
      EXPECT_EQ(d["index"], open);
      json& block = message["content"][static_cast<std::size_t>(open)];
      if (block["type"] == "tool_use" && !json_buffers[static_cast<std::size_t>(open)].empty()) {
        block["input"] = json::parse(json_buffers[static_cast<std::size_t>(open)]);
      }
      open = -1;
    } else if (type == "message_delta") {
      EXPECT_EQ(open, -1);
      message["stop_reason"] = d["delta"]["stop_reason"];
      message["stop_sequence"] = d["delta"]["stop_sequence"];
      message["usage"]["output_tokens"] = d["usage"]["output_tokens"];
    } else if (type == "message_stop") {
      EXPECT_EQ(i + 1, events.size());
    } else {
      ADD_FAILURE() << "unexpected event " << type;
    }
  }
  return message;
}

TEST(AnthropicResponse, TextAndToolUse) {
  anthropic::MessageResult result;
  result.id = "msg_01";
  result.model = "claude-x";
  result.text = "Let me check.";
  result.tool_calls = {{"toolu_01", "get_weather", {{"city", "Paris"}}}};
  result.stop = StopKind::tool_use;
  result.prompt_tokens = 120;
  result.cached_tokens = 100;
  result.output_tokens = 17;
  json expected = json::parse(R"({
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
    "content": [
      {"type": "text", "text": "Let me check."},
      {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
    ],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 20, "output_tokens": 17, "cache_read_input_tokens": 100,
              "cache_creation_input_tokens": 0}
  })");
  EXPECT_EQ(anthropic::message_response(result), expected);
}

TEST(AnthropicResponse, StopSequenceAndEmptyContent) {
  anthropic::MessageResult result;
  result.id = "msg_02";
  result.model = "m";
  result.stop = StopKind::stop_sequence;
  result.stop_sequence = "END";
  json body = anthropic::message_response(result);
  EXPECT_EQ(body["content"], json::array());
  EXPECT_EQ(body["stop_reason"], "stop_sequence");
  EXPECT_EQ(body["stop_sequence"], "END");
  result.stop = StopKind::max_tokens;
  result.stop_sequence.reset();
  EXPECT_EQ(anthropic::message_response(result)["stop_reason"], "max_tokens");
  result.stop = StopKind::end_turn;
  EXPECT_EQ(anthropic::message_response(result)["stop_reason"], "end_turn");
}

TEST(AnthropicResponse, NewIdsLookLikeAnthropics) {
  std::string id = anthropic::new_message_id();
  EXPECT_EQ(id.rfind("msg_", 0), 0u);
  EXPECT_EQ(id.size(), 4u + 24u);
  EXPECT_NE(id, anthropic::new_message_id());
}

TEST(AnthropicErrors, BodiesAndStatuses) {
  struct Case {
    ErrorKind kind;
    const char* type;
    int status;
  };
  for (const Case& c : {Case{ErrorKind::invalid_request, "invalid_request_error", 400},
                        Case{ErrorKind::authentication, "authentication_error", 401},
                        Case{ErrorKind::permission, "permission_error", 403},
                        Case{ErrorKind::not_found, "not_found_error", 404},
                        Case{ErrorKind::request_too_large, "request_too_large", 413},
                        Case{ErrorKind::rate_limited, "rate_limit_error", 429},
                        Case{ErrorKind::overloaded, "overloaded_error", 529},
                        Case{ErrorKind::internal, "api_error", 500}}) {
    json body = anthropic::error_body(ApiError(c.kind, "boom"));
    EXPECT_EQ(body, json({{"type", "error"}, {"error", {{"type", c.type}, {"message", "boom"}}}}));
    EXPECT_EQ(http_status(c.kind, false), c.status);
  }
  EXPECT_EQ(http_status(ErrorKind::overloaded, true), 429);
  EXPECT_EQ(anthropic::count_tokens_response(42), json({{"input_tokens", 42}}));
}

TEST(AnthropicStream, TextThenToolUse) {
  anthropic::AnthropicStreamWriter w;
  std::string bytes = w.start("msg_1", "m", 50, 30);
  bytes += w.text("Hel");
  bytes += w.text("");  // nothing
  bytes += w.text("lo");
  bytes += w.tool_use_start("toolu_1", "get_weather");
  bytes += w.tool_input_delta("{\"city\": ");
  bytes += w.tool_input_delta("\"Paris\"}");
  bytes += w.tool_use_end();
  bytes += w.finish(StopKind::tool_use, std::nullopt, 12);
  EXPECT_TRUE(w.finished());
  EXPECT_EQ(w.text("late"), "");

  auto events = parse_sse(bytes);
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "ping", "content_block_start", "content_block_delta",
                       "content_block_delta", "content_block_stop", "content_block_start",
                       "content_block_delta", "content_block_delta", "content_block_stop",
                       "message_delta", "message_stop"}));
  EXPECT_EQ(events[0].data, json::parse(R"({"type": "message_start", "message": {
      "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
      "stop_reason": null, "stop_sequence": null,
      "usage": {"input_tokens": 20, "output_tokens": 0, "cache_read_input_tokens": 30,
                "cache_creation_input_tokens": 0}}})"));
  EXPECT_EQ(events[2].data, json::parse(R"({"type": "content_block_start", "index": 0,
      "content_block": {"type": "text", "text": ""}})"));
  EXPECT_EQ(events[3].data, json::parse(R"({"type": "content_block_delta", "index": 0,
      "delta": {"type": "text_delta", "text": "Hel"}})"));
  EXPECT_EQ(events[6].data, json::parse(R"({"type": "content_block_start", "index": 1,
      "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}})"));
  EXPECT_EQ(events[7].data, json::parse(R"({"type": "content_block_delta", "index": 1,
      "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}})"));
  EXPECT_EQ(events[10].data, json::parse(R"({"type": "message_delta",
      "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 12}})"));

  // The stream adds up to the same message the non-streaming response gives.
  anthropic::MessageResult result;
  result.id = "msg_1";
  result.model = "m";
  result.text = "Hello";
  result.tool_calls = {{"toolu_1", "get_weather", {{"city", "Paris"}}}};
  result.stop = StopKind::tool_use;
  result.prompt_tokens = 50;
  result.cached_tokens = 30;
  result.output_tokens = 12;
  EXPECT_EQ(accumulate(events), anthropic::message_response(result));
}

TEST(AnthropicStream, ParserPiecesAndTextAfterTools) {
  anthropic::AnthropicStreamWriter w;
  ToolCallParser parser(std::string(anthropic::kToolIdPrefix));
  std::string bytes = w.start("msg_2", "m", 5, 0);
  for (const char* chunk : {"Sure.\n<tool_", "call>{\"name\": \"a\", \"arguments\": {\"x\": [1,",
                            " 2]}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {}}",
                            "</tool_call> done"}) {
    for (const auto& piece : parser.push(chunk)) bytes += w.write(piece);
  }
  for (const auto& piece : parser.finish()) bytes += w.write(piece);
  bytes += w.finish(StopKind::end_turn, std::nullopt, 30);
  json message = accumulate(parse_sse(bytes));
  ASSERT_EQ(message["content"].size(), 4u);
  EXPECT_EQ(message["content"][0], json({{"type", "text"}, {"text", "Sure."}}));
  EXPECT_EQ(message["content"][1]["name"], "a");
  EXPECT_EQ(message["content"][1]["input"], json::parse(R"({"x": [1, 2]})"));
  EXPECT_EQ(message["content"][1]["id"].get<std::string>().rfind("toolu_", 0), 0u);
  EXPECT_EQ(message["content"][2]["name"], "b");
  EXPECT_EQ(message["content"][2]["input"], json::object());
  EXPECT_EQ(message["content"][3], json({{"type", "text"}, {"text", "done"}}));
}

TEST(AnthropicStream, StopSequenceAndNoContent) {
  anthropic::AnthropicStreamWriter w;
  std::string bytes = w.start("msg_3", "m", 5, 0);
  bytes += w.finish(StopKind::stop_sequence, std::string("END"), 1);
  auto events = parse_sse(bytes);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].data["delta"], json({{"stop_reason", "stop_sequence"}, {"stop_sequence", "END"}}));
}

TEST(AnthropicStream, ErrorMidStream) {
  anthropic::AnthropicStreamWriter w;
  w.start("msg_4", "m", 5, 0);
  w.text("partial");
  std::string error = w.error(ApiError(ErrorKind::overloaded, "Overloaded"));
  EXPECT_EQ(error,
            "event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"},"
            "\"type\":\"error\"}\n\n");
  EXPECT_TRUE(w.finished());
  EXPECT_EQ(w.finish(StopKind::end_turn, std::nullopt, 1), "");
}

TEST(AnthropicStream, InvalidUtf8NeverThrows) {
  anthropic::AnthropicStreamWriter w;
  w.start("msg_5", "m", 1, 0);
  std::string bytes = w.text("caf\xc3");
  auto events = parse_sse(bytes);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data["delta"]["text"], "caf\xef\xbf\xbd");
}

}  // namespace
}  // namespace pensieve::api
