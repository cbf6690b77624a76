#pragma once
// The Anthropic Messages API (POST /v1/messages, /v1/messages/count_tokens) translated to and
// from Pensieve's dialect-neutral types. Pure functions and a byte-producing stream writer: no
// HTTP, no model.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/chat.h"
#include "api/tool_call_parser.h"

namespace pensieve::api::anthropic {

// A /v1/messages body → ChatRequest. Throws ApiError(invalid_request) naming the field at fault.
// - max_tokens is required and kept as given (the server clamps it to what fits).
// - system (string or text blocks) becomes the first message; role "system" inside messages stays
//   a system message where it is. Text blocks of one turn are joined by a blank line.
// - tool_use blocks become the assistant message's tool_calls; each tool_result becomes a message
//   of role "tool" (named after the tool_use it answers), placed before the rest of its turn.
// - image and document blocks are refused (this model reads text only); thinking,
//   redacted_thinking and server-tool blocks are dropped; server tools (a "type" other than
//   "custom" in tools) are ignored.
// - Unknown fields (metadata, thinking, cache_control, context_management, output_config,
//   service_tier, …) are ignored, never an error.
ChatRequest parse_messages_request(const nlohmann::json& body);
// The same body for /v1/messages/count_tokens, where max_tokens is not needed.
ChatRequest parse_count_tokens_request(const nlohmann::json& body);

// Claude Code starts its system prompt with a block "x-anthropic-billing-header: cc_version=…;
// cc_entrypoint=…; …" that changes with every request. It means nothing to a local model, and
// as the first line of the prompt it would make every prompt differ from the first token on and
// defeat the prefix cache, so the request parser drops a system block that starts with it.
bool is_billing_header(std::string_view system_text);

// The result of one generation, for the non-streaming response.
struct MessageResult {
  std::string id;     // "msg_…" (new_message_id())
  std::string model;  // the name the client asked for
  std::string text;
  std::vector<ToolCall> tool_calls;
  StopKind stop = StopKind::end_turn;
  std::optional<std::string> stop_sequence;  // the one matched, with StopKind::stop_sequence
  int prompt_tokens = 0;  // the whole prompt, cached part included
  int cached_tokens = 0;  // of the prompt, tokens read from the prefix cache
  int output_tokens = 0;
};

std::string new_message_id();  // "msg_" + 24 alphanumerics
// "toolu_": pass to ToolCallParser for Anthropic tool_use ids.
inline constexpr std::string_view kToolIdPrefix = "toolu_";

// "end_turn", "max_tokens", "stop_sequence", "tool_use".
std::string stop_reason(StopKind stop);

// {id, type: "message", role: "assistant", model, content: [text…, tool_use…], stop_reason,
//  stop_sequence, usage: {input_tokens, output_tokens, cache_read_input_tokens,
//  cache_creation_input_tokens: 0}}. Anthropic counts cached input apart: input_tokens is
// prompt_tokens - cached_tokens. The text block is left out when empty, so content may be [] (as
// the Anthropic API itself answers when the model says nothing).
nlohmann::json message_response(const MessageResult& result);

// {"type": "error", "error": {"type": "invalid_request_error" | …, "message": …}}
nlohmann::json error_body(const ApiError& error);
std::string error_type(ErrorKind kind);

// {"input_tokens": n}
nlohmann::json count_tokens_response(int input_tokens);

// The SSE bytes of a streamed message ("event: NAME\ndata: JSON\n\n" per event). Each call
// returns the bytes to send now (possibly ""). Content blocks are numbered 0, 1, 2, … in order; a
// text block opens at the first text and closes when a tool_use starts or the message finishes.
class AnthropicStreamWriter {
 public:
  // message_start (empty content, stop_reason null, usage) and a ping.
  std::string start(const std::string& id, const std::string& model, int prompt_tokens,
                    int cached_tokens);
  std::string text(std::string_view delta);
  std::string tool_use_start(const std::string& id, const std::string& name);
  std::string tool_input_delta(std::string_view partial_json);
  std::string tool_use_end();
  // A piece from ToolCallParser, as the matching call above.
  std::string write(const ToolStreamPiece& piece);
  // Closes the open block; message_delta {stop_reason, stop_sequence, usage}; message_stop.
  // With prompt_tokens ≥ 0 the usage also carries the final input counts (input_tokens and
  // cache_read_input_tokens, cumulative, as the API sends them): message_start goes out before
  // the engine knows how much of the prompt the prefix cache held.
  std::string finish(StopKind stop, const std::optional<std::string>& stop_sequence,
                     int output_tokens, int prompt_tokens = -1, int cached_tokens = 0);
  // "event: error" with error_body(error); the stream is over after it.
  std::string error(const ApiError& error);
  std::string ping();

  bool finished() const { return finished_; }

 private:
  enum class Open { none, text, tool_use };
  std::string close_block();
  Open open_ = Open::none;
  int next_index_ = 0;
  bool finished_ = false;
};

// "event: NAME\ndata: JSON\n\n"
std::string sse_event(std::string_view name, const nlohmann::json& data);

}  // namespace pensieve::api::anthropic
