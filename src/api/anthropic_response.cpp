// ChatResult → Anthropic response JSON, and the streaming writer.
#include "api/anthropic.h"
#include "api/ids.h"
#include "api/json_fields.h"

namespace pensieve::api::anthropic {

using nlohmann::json;

std::string new_message_id() { return random_id("msg_"); }

std::string stop_reason(StopKind stop) {
  switch (stop) {
    case StopKind::end_turn: return "end_turn";
    case StopKind::max_tokens: return "max_tokens";
    case StopKind::stop_sequence: return "stop_sequence";
    case StopKind::tool_use: return "tool_use";
  }
  return "end_turn";
}

std::string error_type(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_request: return "invalid_request_error";
    case ErrorKind::authentication: return "authentication_error";
    case ErrorKind::permission: return "permission_error";
    case ErrorKind::not_found: return "not_found_error";
    case ErrorKind::request_too_large: return "request_too_large";
    case ErrorKind::rate_limited: return "rate_limit_error";
    case ErrorKind::overloaded: return "overloaded_error";
    case ErrorKind::internal: return "api_error";
  }
  return "api_error";
}

json error_body(const ApiError& error) {
  return {{"type", "error"}, {"error", {{"type", error_type(error.kind)}, {"message", error.what()}}}};
}

json count_tokens_response(int input_tokens) { return {{"input_tokens", input_tokens}}; }

namespace {

json usage(int prompt_tokens, int cached_tokens, int output_tokens) {
  return {{"input_tokens", prompt_tokens - cached_tokens},
          {"output_tokens", output_tokens},
          {"cache_read_input_tokens", cached_tokens},
          {"cache_creation_input_tokens", 0}};
}

json nullable(const std::optional<std::string>& value) { return value ? json(*value) : json(); }

}  // namespace

json message_response(const MessageResult& result) {
  json content = json::array();
  if (!result.text.empty()) content.push_back({{"type", "text"}, {"text", result.text}});
  for (const auto& call : result.tool_calls) {
    content.push_back({{"type", "tool_use"},
                       {"id", call.id},
                       {"name", call.name},
                       {"input", call.arguments.is_object() ? call.arguments : json::object()}});
  }
  return {{"id", result.id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", result.model},
          {"content", std::move(content)},
          {"stop_reason", stop_reason(result.stop)},
          {"stop_sequence", nullable(result.stop_sequence)},
          {"usage", usage(result.prompt_tokens, result.cached_tokens, result.output_tokens)}};
}

std::string sse_event(std::string_view name, const json& data) {
  std::string out = "event: ";
  out.append(name);
  out += "\ndata: ";
  out += fields::to_wire(data);
  out += "\n\n";
  return out;
}

std::string AnthropicStreamWriter::start(const std::string& id, const std::string& model,
                                         int prompt_tokens, int cached_tokens) {
  json message = {{"id", id},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", model},
                  {"content", json::array()},
                  {"stop_reason", nullptr},
                  {"stop_sequence", nullptr},
                  {"usage", usage(prompt_tokens, cached_tokens, 0)}};
  return sse_event("message_start", {{"type", "message_start"}, {"message", std::move(message)}}) +
         ping();
}

std::string AnthropicStreamWriter::ping() { return sse_event("ping", {{"type", "ping"}}); }

std::string AnthropicStreamWriter::close_block() {
  if (open_ == Open::none) return "";
  open_ = Open::none;
  return sse_event("content_block_stop",
                   {{"type", "content_block_stop"}, {"index", next_index_++}});
}

std::string AnthropicStreamWriter::text(std::string_view delta) {
  if (delta.empty() || finished_) return "";
  std::string out;
  if (open_ != Open::text) {
    out += close_block();
    out += sse_event("content_block_start",
                     {{"type", "content_block_start"},
                      {"index", next_index_},
                      {"content_block", {{"type", "text"}, {"text", ""}}}});
    open_ = Open::text;
  }
  out += sse_event("content_block_delta",
                   {{"type", "content_block_delta"},
                    {"index", next_index_},
                    {"delta", {{"type", "text_delta"}, {"text", std::string(delta)}}}});
  return out;
}

std::string AnthropicStreamWriter::tool_use_start(const std::string& id, const std::string& name) {
  if (finished_) return "";
  std::string out = close_block();
  out += sse_event("content_block_start",
                   {{"type", "content_block_start"},
                    {"index", next_index_},
                    {"content_block",
                     {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", json::object()}}}});
  open_ = Open::tool_use;
  return out;
}

std::string AnthropicStreamWriter::tool_input_delta(std::string_view partial_json) {
  if (open_ != Open::tool_use || partial_json.empty() || finished_) return "";
  return sse_event(
      "content_block_delta",
      {{"type", "content_block_delta"},
       {"index", next_index_},
       {"delta", {{"type", "input_json_delta"}, {"partial_json", std::string(partial_json)}}}});
}

std::string AnthropicStreamWriter::tool_use_end() {
  return open_ == Open::tool_use ? close_block() : "";
}

std::string AnthropicStreamWriter::write(const ToolStreamPiece& piece) {
  if (auto* text_piece = std::get_if<TextDelta>(&piece)) return text(text_piece->text);
  if (auto* start_piece = std::get_if<ToolCallStart>(&piece)) {
    return tool_use_start(start_piece->id, start_piece->name);
  }
  if (auto* arguments = std::get_if<ToolArgumentsDelta>(&piece)) {
    return tool_input_delta(arguments->json_fragment);
  }
  return tool_use_end();
}

std::string AnthropicStreamWriter::finish(StopKind stop,
                                          const std::optional<std::string>& stop_sequence,
                                          int output_tokens, int prompt_tokens, int cached_tokens) {
  if (finished_) return "";
  std::string out = close_block();
  const json final_usage = prompt_tokens >= 0 ? usage(prompt_tokens, cached_tokens, output_tokens)
                                              : json{{"output_tokens", output_tokens}};
  out += sse_event("message_delta",
                   {{"type", "message_delta"},
                    {"delta", {{"stop_reason", stop_reason(stop)},
                               {"stop_sequence", nullable(stop_sequence)}}},
                    {"usage", final_usage}});
  out += sse_event("message_stop", {{"type", "message_stop"}});
  finished_ = true;
  return out;
}

std::string AnthropicStreamWriter::error(const ApiError& error) {
  if (finished_) return "";
  finished_ = true;
  return sse_event("error", error_body(error));
}

}  // namespace pensieve::api::anthropic
