#include "server/choice_stream.h"

#include <climits>
#include <variant>

#include "common/error.h"
#include "server/request_log.h"

namespace pensieve::server {

engine::GenerationRequest engine_request(const api::ChatRequest& request, std::vector<int32_t> prompt,
                                         int choice_index,
                                         std::shared_ptr<const grammar::ConstraintFactory> constraint) {
  engine::GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling = request.sampling;
  // n > 1 with a seed: each choice its own reproducible stream.
  if (r.sampling.seed && choice_index > 0) *r.sampling.seed += static_cast<uint64_t>(choice_index);
  r.max_tokens = request.max_tokens.value_or(INT_MAX);
  r.stop = request.stop;
  r.top_logprobs = request.top_logprobs;
  r.constraint = std::move(constraint);
  return r;
}

ChoiceStream::ChoiceStream(engine::Engine& engine, engine::GenerationRequest request,
                           std::string tool_id_prefix, bool parse_tool_calls) {
  if (parse_tool_calls) parser_.emplace(std::move(tool_id_prefix));
  try {
    handle_ = engine.submit(std::move(request));
  } catch (const engine::Overloaded& e) {
    throw api::ApiError(api::ErrorKind::overloaded, e.what());
  } catch (const Error& e) {
    throw api::ApiError(api::ErrorKind::invalid_request, e.what());
  }
}

ChoiceStream::~ChoiceStream() { cancel(); }

void ChoiceStream::cancel() {
  if (handle_ && !done_) handle_->cancel();
}

api::StopKind ChoiceStream::stop() const {
  // A call cut off by max_tokens is not a call: the client cannot run it.
  if (truncated_call_ && finish_ == engine::FinishReason::max_tokens) return api::StopKind::max_tokens;
  if (!tool_calls_.empty()) return api::StopKind::tool_use;
  switch (finish_) {
    case engine::FinishReason::max_tokens: return api::StopKind::max_tokens;
    case engine::FinishReason::stop_string: return api::StopKind::stop_sequence;
    default: return api::StopKind::end_turn;
  }
}

void ChoiceStream::collect(const std::vector<api::ToolStreamPiece>& pieces) {
  for (const auto& p : pieces) {
    if (const auto* t = std::get_if<api::TextDelta>(&p)) text_ += t->text;
    else if (const auto* end = std::get_if<api::ToolCallEnd>(&p)) {
      if (end->complete) tool_calls_.push_back(end->call);
      else truncated_call_ = true;  // left out of the result (streams already showed its start)
    }
  }
}

ChoiceUpdate ChoiceStream::poll(std::chrono::milliseconds timeout) {
  ChoiceUpdate update;
  if (done_) {
    update.done = true;
    return update;
  }
  auto event = handle_->events.pop(timeout);
  while (event) {
    switch (event->kind) {
      case engine::Event::Kind::text:
        if (!update.produced && !event->text.empty()) update.produced = event->produced;
        if (!event->text.empty()) {
          if (parser_) {
            auto pieces = parser_->push(event->text);
            update.pieces.insert(update.pieces.end(), pieces.begin(), pieces.end());
          } else {
            update.pieces.push_back(api::TextDelta{event->text});
          }
        }
        for (auto& t : event->tokens) update.tokens.push_back(std::move(t));
        break;
      case engine::Event::Kind::done:
        done_ = true;
        finish_ = event->finish;
        stop_sequence_ = event->stop_string;
        usage_ = event->usage;
        timings_ = event->timings;
        request_log::note_generation(usage_, event->time_to_first_token_s);
        if (parser_) {
          auto pieces = parser_->finish();
          update.pieces.insert(update.pieces.end(), pieces.begin(), pieces.end());
        }
        update.done = true;
        collect(update.pieces);
        return update;
      case engine::Event::Kind::error:
        done_ = true;
        throw api::ApiError(api::ErrorKind::internal, "generation failed: " + event->error);
    }
    event = handle_->events.pop(std::chrono::milliseconds(0));  // drain what is already there
  }
  collect(update.pieces);
  return update;
}

}  // namespace pensieve::server
