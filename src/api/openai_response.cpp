// Results → OpenAI response JSON (chat.completion, text_completion, model list, errors).
#include <algorithm>
#include <cmath>

#include "api/ids.h"
#include "api/json_fields.h"
#include "api/openai.h"

namespace pensieve::api::openai {

using nlohmann::json;

namespace {

// JSON has no -inf; vLLM reports an impossible token as -9999.0 and clients expect a number.
double wire_logprob(float logprob) { return std::isfinite(logprob) ? logprob : -9999.0; }

// The token as text: its bytes, with any incomplete or invalid UTF-8 sequence replaced by U+FFFD
// (the raw bytes stay available in "bytes").
std::string token_text(const std::string& bytes) {
  return json::parse(fields::to_wire(json(bytes))).get<std::string>();
}

json byte_list(const std::string& bytes) {
  json list = json::array();
  for (unsigned char c : bytes) list.push_back(static_cast<int>(c));
  return list;
}

json alternative(const std::string& bytes, float logprob) {
  return {{"token", token_text(bytes)}, {"logprob", wire_logprob(logprob)}, {"bytes", byte_list(bytes)}};
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json list = json::array();
  for (const auto& call : calls) {
    json arguments = call.arguments.is_object() ? call.arguments : json::object();
    list.push_back({{"id", call.id},
                    {"type", "function"},
                    {"function", {{"name", call.name}, {"arguments", fields::to_wire(arguments)}}}});
  }
  return list;
}

}  // namespace

std::string new_chat_id() { return random_id("chatcmpl-"); }
std::string new_completion_id() { return random_id("cmpl-"); }

std::string finish_reason(StopKind stop) {
  switch (stop) {
    case StopKind::end_turn:
    case StopKind::stop_sequence: return "stop";
    case StopKind::max_tokens: return "length";
    case StopKind::tool_use: return "tool_calls";
  }
  return "stop";
}

json usage_json(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

json response_envelope(const std::string& id, const char* object, int64_t created, const std::string& model,
                       json choices, const Usage& usage, const Timings* timings) {
  json out = {{"id", id},
              {"object", object},
              {"created", created},
              {"model", model},
              {"choices", std::move(choices)},
              {"usage", usage_json(usage)}};
  if (timings) out["timings"] = timings_json(*timings);
  return out;
}

json timings_json(const Timings& t) {
  // Per decode step: predicted_n tokens took predicted_n - 1 steps after the first.
  const int steps = std::max(t.predicted_n - 1, 0);
  auto per = [](double ms, int n) { return n > 0 ? ms / n : 0.0; };
  auto rate = [](double ms, int n) { return ms > 0 ? 1000.0 * n / ms : 0.0; };
  return {{"prompt_n", t.prompt_n},
          {"cache_n", t.cache_n},
          {"prompt_ms", t.prompt_ms},
          {"prompt_per_token_ms", per(t.prompt_ms, t.prompt_n)},
          {"prompt_per_second", rate(t.prompt_ms, t.prompt_n)},
          {"predicted_n", t.predicted_n},
          {"predicted_ms", t.predicted_ms},
          {"predicted_per_token_ms", per(t.predicted_ms, steps)},
          {"predicted_per_second", rate(t.predicted_ms, steps)},
          {"prepare_ms", t.prepare_ms},
          {"queue_ms", t.queue_ms},
          {"first_token_ms", t.first_token_ms}};
}

json chat_logprobs(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const auto& token : tokens) {
    json entry = alternative(token.bytes, token.logprob);
    json top = json::array();
    for (const auto& alt : token.top) top.push_back(alternative(alt.bytes, alt.logprob));
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

json chat_response(const ChatResult& result) {
  json choices = json::array();
  for (std::size_t i = 0; i < result.choices.size(); ++i) {
    const ChatChoice& choice = result.choices[i];
    json message = {{"role", "assistant"}, {"refusal", nullptr}};
    // OpenAI answers content null for a turn that only calls tools.
    message["content"] = choice.text.empty() && !choice.tool_calls.empty() ? json() : json(choice.text);
    if (!choice.tool_calls.empty()) message["tool_calls"] = tool_calls_json(choice.tool_calls);
    choices.push_back({{"index", i},
                       {"message", std::move(message)},
                       {"logprobs", choice.logprobs ? chat_logprobs(*choice.logprobs) : json()},
                       {"finish_reason", finish_reason(choice.stop)}});
  }
  return response_envelope(result.id, "chat.completion", result.created, result.model, std::move(choices),
                           result.usage, result.timings ? &*result.timings : nullptr);
}

json completion_logprobs(const std::vector<TokenLogprob>& tokens,
                         const std::vector<int>& text_offsets) {
  json texts = json::array(), logprobs = json::array(), tops = json::array();
  for (const auto& token : tokens) {
    texts.push_back(token_text(token.bytes));
    logprobs.push_back(wire_logprob(token.logprob));
    json top = json::object();
    for (const auto& alt : token.top) top[token_text(alt.bytes)] = wire_logprob(alt.logprob);
    tops.push_back(std::move(top));
  }
  return {{"tokens", std::move(texts)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", text_offsets}};
}

json completion_response(const CompletionResult& result) {
  json choices = json::array();
  for (std::size_t i = 0; i < result.choices.size(); ++i) {
    const CompletionChoice& choice = result.choices[i];
    choices.push_back(
        {{"index", i},
         {"text", choice.text},
         {"logprobs",
          choice.logprobs ? completion_logprobs(*choice.logprobs, choice.text_offsets) : json()},
         {"finish_reason", finish_reason(choice.stop)}});
  }
  return response_envelope(result.id, "text_completion", result.created, result.model, std::move(choices),
                           result.usage, result.timings ? &*result.timings : nullptr);
}

json models_response(const std::vector<std::string>& model_ids, int64_t created) {
  json data = json::array();
  for (const auto& id : model_ids) {
    data.push_back({{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "pensieve"}});
  }
  return {{"object", "list"}, {"data", std::move(data)}};
}

std::string error_type(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_request:
    case ErrorKind::request_too_large: return "invalid_request_error";
    case ErrorKind::authentication: return "authentication_error";
    case ErrorKind::permission: return "permission_error";
    case ErrorKind::not_found: return "not_found_error";
    case ErrorKind::rate_limited:
    case ErrorKind::overloaded: return "rate_limit_error";
    case ErrorKind::internal: return "server_error";
  }
  return "server_error";
}

json error_body(const ApiError& error) {
  return {{"error",
           {{"message", error.what()},
            {"type", error_type(error.kind)},
            {"param", error.param.empty() ? json() : json(error.param)},
            {"code", nullptr}}}};
}

std::string sse_data(const json& data) { return "data: " + fields::to_wire(data) + "\n\n"; }
std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace pensieve::api::openai
