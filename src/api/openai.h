#pragma once
// The OpenAI API (POST /v1/chat/completions, POST /v1/completions, GET /v1/models) translated to
// and from Pensieve's dialect-neutral types. Pure functions and byte-producing stream writers: no
// HTTP, no model.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/chat.h"
#include "api/tool_call_parser.h"

namespace pensieve::api::openai {

inline constexpr int kMaxChoices = 8;        // n
inline constexpr int kMaxStops = 4;          // stop
inline constexpr int kMaxTopLogprobs = 20;   // chat top_logprobs
inline constexpr int kMaxCompletionLogprobs = 5;  // /v1/completions logprobs
inline constexpr int kCompletionDefaultMaxTokens = 16;  // as OpenAI's /v1/completions
inline constexpr std::string_view kToolIdPrefix = "call_";

// /v1/chat/completions body → ChatRequest. Throws ApiError(invalid_request) naming the field.
// Roles: system, developer (→ system), user, assistant (with tool_calls whose `arguments` JSON
// string is parsed), tool (tool_call_id). Content: a string or a list of text parts; image and
// audio parts are refused. top_logprobs is set to 0 for logprobs: true without top_logprobs, and
// stays -1 without logprobs. max_completion_tokens wins over max_tokens. user, metadata, store,
// and every other unknown field are ignored.
ChatRequest parse_chat_request(const nlohmann::json& body);

// /v1/completions body → ChatRequest with raw_prompt (a string, or a list of one string) or
// prompt_token_ids (a list of ids, or a list of one such list). max_tokens defaults to 16;
// logprobs (an integer 0..5) sets top_logprobs; echo; suffix is refused.
ChatRequest parse_completion_request(const nlohmann::json& body);

// One token's log-probability. `bytes` are the token's raw bytes (a token may end inside a UTF-8
// character); the "token" string on the wire is those bytes with invalid sequences replaced.
struct TokenAlternative {
  std::string bytes;
  float logprob = 0.0f;
};
struct TokenLogprob {
  std::string bytes;
  float logprob = 0.0f;
  std::vector<TokenAlternative> top;  // most likely first
};

// "stop" | "length" | "tool_calls"
std::string finish_reason(StopKind stop);

struct ChatChoice {
  std::string text;
  std::vector<ToolCall> tool_calls;
  StopKind stop = StopKind::end_turn;
  std::optional<std::vector<TokenLogprob>> logprobs;  // set when the request asked for them
};

struct Usage {
  int prompt_tokens = 0;  // the whole prompt
  int cached_tokens = 0;  // of the prompt, read from the prefix cache
  int completion_tokens = 0;
};

// Where a response's time went, by the server's steady clock, in llama-server's names (counts
// in tokens, durations in milliseconds). prompt_ms runs from the request getting an engine slot
// to its first token (the prompt's forward passes and the first choice), predicted_ms from the
// first token to the last (predicted_n - 1 decode steps). The rest start at the receipt of the
// HTTP request (its headers): prepare_ms until the engine had it (body, template, tokenizer),
// queue_ms until the slot, first_token_ms until the first token.
struct Timings {
  int prompt_n = 0;  // prompt tokens run through the model
  int cache_n = 0;   // prompt tokens taken from the prefix cache instead
  double prompt_ms = 0;
  int predicted_n = 0;
  double predicted_ms = 0;
  double prepare_ms = 0;
  double queue_ms = 0;
  double first_token_ms = 0;
};
// The fields above plus prompt_per_token_ms, prompt_per_second, predicted_per_token_ms and
// predicted_per_second (per decode step, so a one-token answer has 0).
nlohmann::json timings_json(const Timings& timings);

struct ChatResult {
  std::string id;  // new_chat_id()
  std::string model;
  int64_t created = 0;  // unix seconds
  std::vector<ChatChoice> choices;
  Usage usage;
  std::optional<Timings> timings;  // a top-level "timings" object when set
};

std::string new_chat_id();        // "chatcmpl-" + 24 alphanumerics
std::string new_completion_id();  // "cmpl-" + 24 alphanumerics

// chat.completion: choices [{index, message {role, content (null when only tool calls),
// tool_calls?, refusal: null}, logprobs: null | {content: [...], refusal: null}, finish_reason}],
// usage {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details {cached_tokens}}.
nlohmann::json chat_response(const ChatResult& result);
nlohmann::json usage_json(const Usage& usage);
// The fields every response and final usage chunk share: {id, object, created, model, choices,
// usage, timings (when given)}.
nlohmann::json response_envelope(const std::string& id, const char* object, int64_t created,
                                 const std::string& model, nlohmann::json choices, const Usage& usage,
                                 const Timings* timings);
// {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal: null}
nlohmann::json chat_logprobs(const std::vector<TokenLogprob>& tokens);

struct CompletionChoice {
  std::string text;  // with the prompt in front when echo was asked
  StopKind stop = StopKind::end_turn;
  // tokens with their text offsets (into `text`), when logprobs were asked for
  std::optional<std::vector<TokenLogprob>> logprobs;
  std::vector<int> text_offsets;
};
struct CompletionResult {
  std::string id;  // new_completion_id()
  std::string model;
  int64_t created = 0;
  std::vector<CompletionChoice> choices;
  Usage usage;
  std::optional<Timings> timings;  // a top-level "timings" object when set
};
// text_completion: choices [{text, index, logprobs: null | {tokens, token_logprobs,
// top_logprobs: [{token: logprob}], text_offset}, finish_reason}], usage.
nlohmann::json completion_response(const CompletionResult& result);
nlohmann::json completion_logprobs(const std::vector<TokenLogprob>& tokens,
                                   const std::vector<int>& text_offsets);

// {object: "list", data: [{id, object: "model", created, owned_by: "pensieve"}]}
nlohmann::json models_response(const std::vector<std::string>& model_ids, int64_t created);

// {"error": {"message", "type", "param", "code"}}
nlohmann::json error_body(const ApiError& error);
std::string error_type(ErrorKind kind);

// "data: JSON\n\n"
std::string sse_data(const nlohmann::json& data);
// "data: [DONE]\n\n"
std::string sse_done();

// The SSE bytes of a streamed chat completion: chat.completion.chunk objects, one choice per
// chunk. Each choice begins with a chunk carrying role "assistant"; tool calls of a choice are
// numbered 0, 1, … (the `index` in delta.tool_calls), the first chunk of a call carries its id,
// type and name, later ones argument fragments. With include_usage every chunk has "usage": null
// and the usage comes in a last chunk with no choices.
class ChatStreamWriter {
 public:
  ChatStreamWriter(std::string id, std::string model, int64_t created, int choices,
                   bool include_usage);
  std::string text(int choice, std::string_view delta,
                   const std::vector<TokenLogprob>* logprobs = nullptr);
  std::string tool_call_start(int choice, const std::string& id, const std::string& name);
  std::string tool_arguments(int choice, std::string_view fragment);
  // A piece from ToolCallParser, as the matching call above (ToolCallEnd writes nothing).
  std::string write(int choice, const ToolStreamPiece& piece);
  // The choice's last chunk (finish_reason), with a "timings" object for that choice when given.
  std::string finish(int choice, StopKind stop, const Timings* timings = nullptr);
  // The usage chunk (when include_usage; with the whole response's "timings" when given) and
  // "data: [DONE]".
  std::string done(const Usage& usage, const Timings* timings = nullptr);
  // An error object in the stream ({"error": {…}}), then "data: [DONE]".
  std::string error(const ApiError& error);

 private:
  struct ChoiceState {
    bool started = false;
    bool finished = false;
    int tool_calls = 0;
  };
  std::string chunk(int choice, nlohmann::json delta, nlohmann::json finish_reason,
                    nlohmann::json logprobs, const Timings* timings = nullptr);
  std::string role_chunk_if_needed(int choice);
  ChoiceState& state(int choice);
  std::string id_, model_;
  int64_t created_;
  bool include_usage_;
  std::vector<ChoiceState> choices_;
  bool done_ = false;
};

// The SSE bytes of a streamed text completion (text_completion objects).
class CompletionStreamWriter {
 public:
  CompletionStreamWriter(std::string id, std::string model, int64_t created, bool include_usage);
  // `logprobs`/`text_offsets`: the tokens of this delta, when logprobs were asked for.
  std::string text(int choice, std::string_view delta,
                   const std::vector<TokenLogprob>* logprobs = nullptr,
                   const std::vector<int>* text_offsets = nullptr);
  std::string finish(int choice, StopKind stop, const Timings* timings = nullptr);
  std::string done(const Usage& usage, const Timings* timings = nullptr);
  std::string error(const ApiError& error);

 private:
  std::string chunk(int choice, std::string text, nlohmann::json finish_reason,
                    nlohmann::json logprobs, const Timings* timings = nullptr);
  std::string id_, model_;
  int64_t created_;
  bool include_usage_;
  bool done_ = false;
};

}  // namespace pensieve::api::openai
