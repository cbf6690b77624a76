#pragma once
// The dialect-neutral form of a chat or completion request and of its result. The Anthropic and
// OpenAI translation modules turn wire JSON into a ChatRequest and engine output back into wire
// JSON; nothing here knows HTTP, and nothing in the engine knows these types.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sampling/sampler.h"

namespace pensieve::api {

// A request the client got wrong (or cannot be served), with the HTTP status to answer.
// `kind` is dialect-neutral; each dialect maps it to its own error type string.
enum class ErrorKind { invalid_request, authentication, permission, not_found, request_too_large,
                       rate_limited, overloaded, internal };

struct ApiError : std::runtime_error {
  ApiError(ErrorKind k, std::string message) : std::runtime_error(std::move(message)), kind(k) {}
  ApiError(ErrorKind k, std::string message, std::string field)
      : std::runtime_error(std::move(message)), kind(k), param(std::move(field)) {}
  ErrorKind kind;
  std::string param;  // the request field at fault ("messages.2.content"), when one is; OpenAI's
                      // error body reports it as "param"
};

int http_status(ErrorKind kind, bool openai);  // 529 vs 429 for overloaded differs per dialect

struct ToolCall {
  std::string id;            // toolu_… / call_…
  std::string name;
  nlohmann::json arguments;  // a JSON object
};

struct ChatMessage {
  std::string role;     // system, user, assistant, tool
  std::string content;  // text (blocks joined)
  std::vector<ToolCall> tool_calls;  // assistant turns that called tools
  std::string tool_call_id;          // role tool: which call this answers
  std::string name;                  // role tool: the tool's name, when known
  bool is_error = false;             // role tool: tool_result with is_error
};

struct ToolDefinition {
  std::string name;
  std::string description;
  nlohmann::json input_schema;  // JSON Schema of the arguments object
};

enum class ToolChoice { auto_, any, tool, none };

enum class ResponseFormat { text, json_object, json_schema };

struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;  // system prompt first when there is one
  std::vector<ToolDefinition> tools;
  ToolChoice tool_choice = ToolChoice::auto_;
  std::string forced_tool;  // tool_choice == tool
  sampling::SamplingParams sampling;
  std::optional<int> max_tokens;  // unset: as much as fits
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  int n = 1;                   // OpenAI: choices per request
  int top_logprobs = -1;       // OpenAI: ≥ 0 when logprobs were asked for
  ResponseFormat response_format = ResponseFormat::text;
  nlohmann::json response_schema;  // json_schema: the schema
  // /v1/completions: a raw prompt instead of messages (no chat template)
  std::optional<std::string> raw_prompt;
  std::optional<std::vector<int32_t>> prompt_token_ids;  // /v1/completions: prompt given as ids
  bool echo = false;
  // Anthropic tool_choice.disable_parallel_tool_use / OpenAI parallel_tool_calls: false → at most
  // one tool call per turn.
  bool parallel_tool_calls = true;
};

// How the output of one generation ended, in dialect-neutral terms.
enum class StopKind { end_turn, max_tokens, stop_sequence, tool_use };

}  // namespace pensieve::api
