#pragma once
// What the engine is asked to do and how a generation ended; free of HTTP and wire formats.
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "grammar/constraint.h"
#include "sampling/sampler.h"

namespace pensieve::engine {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  sampling::SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;  // stop strings; never part of the output
  int prefill_chunk = 512;        // prompt positions per forward pass (bounds prefill memory)
  bool ignore_eos = false;        // benchmarks: always produce max_tokens
  int top_logprobs = -1;          // ≥ 0: report the chosen id's logprob and this many alternatives
  // A grammar the output must follow (JSON schema, tool calls); each sequence makes its own
  // constraint from it. Constrained sequences sample on the host, after masking.
  std::shared_ptr<const grammar::ConstraintFactory> constraint;
};

enum class FinishReason { eos, max_tokens, stop_string, cancelled };
const char* to_string(FinishReason r);

}  // namespace pensieve::engine
