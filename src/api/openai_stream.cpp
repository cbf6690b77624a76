// Streamed OpenAI responses: chat.completion.chunk and text_completion chunks as SSE bytes.
#include "api/json_fields.h"
#include "api/openai.h"

namespace pensieve::api::openai {

using nlohmann::json;

ChatStreamWriter::ChatStreamWriter(std::string id, std::string model, int64_t created,
                                   int choices, bool include_usage)
    : id_(std::move(id)),
      model_(std::move(model)),
      created_(created),
      include_usage_(include_usage),
      choices_(static_cast<std::size_t>(std::max(choices, 1))) {}

ChatStreamWriter::ChoiceState& ChatStreamWriter::state(int choice) {
  if (choice < 0 || static_cast<std::size_t>(choice) >= choices_.size()) {
    throw ApiError(ErrorKind::internal, "stream choice index out of range");
  }
  return choices_[static_cast<std::size_t>(choice)];
}

std::string ChatStreamWriter::chunk(int choice, json delta, json finish, json logprobs,
                                    const Timings* timings) {
  json body = {{"id", id_},
               {"object", "chat.completion.chunk"},
               {"created", created_},
               {"model", model_},
               {"choices",
                json::array({{{"index", choice},
                              {"delta", std::move(delta)},
                              {"logprobs", std::move(logprobs)},
                              {"finish_reason", std::move(finish)}}})}};
  if (include_usage_) body["usage"] = nullptr;
  if (timings) body["timings"] = timings_json(*timings);
  return sse_data(body);
}

std::string ChatStreamWriter::role_chunk_if_needed(int choice) {
  ChoiceState& s = state(choice);
  if (s.started) return "";
  s.started = true;
  return chunk(choice, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
}

std::string ChatStreamWriter::text(int choice, std::string_view delta,
                                   const std::vector<TokenLogprob>* logprobs) {
  if (done_ || state(choice).finished) return "";
  if (delta.empty() && (!logprobs || logprobs->empty())) return role_chunk_if_needed(choice);
  std::string out = role_chunk_if_needed(choice);
  return out + chunk(choice, {{"content", std::string(delta)}}, nullptr,
                     logprobs ? chat_logprobs(*logprobs) : json());
}

std::string ChatStreamWriter::tool_call_start(int choice, const std::string& id,
                                              const std::string& name) {
  if (done_ || state(choice).finished) return "";
  std::string out = role_chunk_if_needed(choice);
  int index = state(choice).tool_calls++;
  json call = {{"index", index},
               {"id", id},
               {"type", "function"},
               {"function", {{"name", name}, {"arguments", ""}}}};
  return out + chunk(choice, {{"tool_calls", json::array({std::move(call)})}}, nullptr, nullptr);
}

std::string ChatStreamWriter::tool_arguments(int choice, std::string_view fragment) {
  ChoiceState& s = state(choice);
  if (done_ || s.finished || s.tool_calls == 0 || fragment.empty()) return "";
  json call = {{"index", s.tool_calls - 1}, {"function", {{"arguments", std::string(fragment)}}}};
  return chunk(choice, {{"tool_calls", json::array({std::move(call)})}}, nullptr, nullptr);
}

std::string ChatStreamWriter::write(int choice, const ToolStreamPiece& piece) {
  if (auto* text_piece = std::get_if<TextDelta>(&piece)) return text(choice, text_piece->text);
  if (auto* start_piece = std::get_if<ToolCallStart>(&piece)) {
    return tool_call_start(choice, start_piece->id, start_piece->name);
  }
  if (auto* arguments = std::get_if<ToolArgumentsDelta>(&piece)) {
    return tool_arguments(choice, arguments->json_fragment);
  }
  return "";
}

std::string ChatStreamWriter::finish(int choice, StopKind stop, const Timings* timings) {
  if (done_ || state(choice).finished) return "";
  std::string out = role_chunk_if_needed(choice);
  state(choice).finished = true;
  return out + chunk(choice, json::object(), finish_reason(stop), nullptr, timings);
}

std::string ChatStreamWriter::done(const Usage& usage, const Timings* timings) {
  if (done_) return "";
  done_ = true;
  std::string out;
  if (include_usage_) {
    out += sse_data(response_envelope(id_, "chat.completion.chunk", created_, model_, json::array(), usage, timings));
  }
  return out + sse_done();
}

std::string ChatStreamWriter::error(const ApiError& error) {
  if (done_) return "";
  done_ = true;
  return sse_data(error_body(error)) + sse_done();
}

CompletionStreamWriter::CompletionStreamWriter(std::string id, std::string model, int64_t created,
                                               bool include_usage)
    : id_(std::move(id)), model_(std::move(model)), created_(created),
      include_usage_(include_usage) {}

std::string CompletionStreamWriter::chunk(int choice, std::string text, json finish,
                                          json logprobs, const Timings* timings) {
  json body = {{"id", id_},
               {"object", "text_completion"},
               {"created", created_},
               {"model", model_},
               {"choices", json::array({{{"index", choice},
                                         {"text", std::move(text)},
                                         {"logprobs", std::move(logprobs)},
                                         {"finish_reason", std::move(finish)}}})}};
  if (include_usage_) body["usage"] = nullptr;
  if (timings) body["timings"] = timings_json(*timings);
  return sse_data(body);
}

std::string CompletionStreamWriter::text(int choice, std::string_view delta,
                                         const std::vector<TokenLogprob>* logprobs,
                                         const std::vector<int>* text_offsets) {
  if (done_ || (delta.empty() && (!logprobs || logprobs->empty()))) return "";
  json lp;
  if (logprobs) lp = completion_logprobs(*logprobs, text_offsets ? *text_offsets : std::vector<int>{});
  return chunk(choice, std::string(delta), nullptr, std::move(lp));
}

std::string CompletionStreamWriter::finish(int choice, StopKind stop, const Timings* timings) {
  if (done_) return "";
  return chunk(choice, "", finish_reason(stop), nullptr, timings);
}

std::string CompletionStreamWriter::done(const Usage& usage, const Timings* timings) {
  if (done_) return "";
  done_ = true;
  std::string out;
  if (include_usage_) {
    out += sse_data(response_envelope(id_, "text_completion", created_, model_, json::array(), usage, timings));
  }
  return out + sse_done();
}

std::string CompletionStreamWriter::error(const ApiError& error) {
  if (done_) return "";
  done_ = true;
  return sse_data(error_body(error)) + sse_done();
}

}  // namespace pensieve::api::openai
