#pragma once
// One generation (one choice) of a chat or completion request as seen by a route: submitted to
// the engine, read back as dialect-neutral pieces — text deltas and, when tools are in play, tool
// calls split out of the text — with the stop kind and usage at the end. Destroying it before the
// end (client gone) cancels the sequence, which frees its slot at the engine's next step.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/chat.h"
#include "api/tool_call_parser.h"
#include "engine/engine.h"

namespace pensieve::server {

struct ChoiceUpdate {
  std::vector<api::ToolStreamPiece> pieces;
  std::vector<engine::TokenInfo> tokens;  // the ids behind this update, with logprobs if asked
  // When the engine made the oldest text of this update final: its delivery starts there.
  std::optional<std::chrono::steady_clock::time_point> produced;
  bool done = false;
};

class ChoiceStream {
 public:
  // Throws ApiError: overloaded when the queue is full, invalid_request for a request the
  // engine refuses (prompt too long for the context, bad sampling values).
  ChoiceStream(engine::Engine& engine, engine::GenerationRequest request, std::string tool_id_prefix,
               bool parse_tool_calls);
  ~ChoiceStream();
  ChoiceStream(const ChoiceStream&) = delete;
  ChoiceStream& operator=(const ChoiceStream&) = delete;

  // Waits up to `timeout` for the engine; throws ApiError(internal) if generation failed.
  ChoiceUpdate poll(std::chrono::milliseconds timeout);
  void cancel();

  bool done() const { return done_; }
  api::StopKind stop() const;
  const std::optional<std::string>& stop_sequence() const { return stop_sequence_; }
  const engine::Usage& usage() const { return usage_; }
  const engine::Timings& timings() const { return timings_; }  // once done
  const std::string& text() const { return text_; }
  const std::vector<api::ToolCall>& tool_calls() const { return tool_calls_; }

 private:
  void collect(const std::vector<api::ToolStreamPiece>& pieces);

  std::shared_ptr<engine::RequestHandle> handle_;
  std::optional<api::ToolCallParser> parser_;
  bool done_ = false;
  engine::FinishReason finish_ = engine::FinishReason::max_tokens;
  std::optional<std::string> stop_sequence_;
  engine::Usage usage_;
  engine::Timings timings_;
  std::string text_;
  std::vector<api::ToolCall> tool_calls_;  // complete calls only
  bool truncated_call_ = false;
};

// The engine request for a ChatRequest whose prompt is `prompt`: sampling, stops, and max_tokens
// (unset → as many as fit; the engine clamps to the context).
engine::GenerationRequest engine_request(const api::ChatRequest& request, std::vector<int32_t> prompt,
                                         int choice_index,
                                         std::shared_ptr<const grammar::ConstraintFactory> constraint = nullptr);

}  // namespace pensieve::server
