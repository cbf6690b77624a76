#pragma once
// The state of one generation between forward passes: its KV cache, how much of the prompt is
// in it, the sampler, and the path from chosen ids to final text (stream decoder, stop strings,
// EOS and length limits). Shared by the single-sequence Generator and the batching Engine.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/request.h"
#include "model/kv_cache.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::engine {

class Sequence {
 public:
  // `cache` may already hold the first `cached` prompt positions (prefix reuse).
  Sequence(GenerationRequest request, const tokenizer::Tokenizer& tokenizer,
           const std::vector<int32_t>& eos_ids, model::KVCache cache, int cached = 0);

  const GenerationRequest& request() const { return request_; }
  model::KVCache& cache() { return cache_; }
  sampling::Sampler& sampler() { return sampler_; }
  const std::vector<int32_t>& history() const { return history_; }  // prompt + generated

  int cached_prompt_tokens() const { return cached_; }
  bool prefilling() const { return prefilled_ < static_cast<int>(request_.prompt.size()); }
  // The next slice of the prompt to run (at most max_len), and marks it as in the cache.
  std::vector<int32_t> take_prefill_chunk(int max_len);

  // Sets the logits of tokens the grammar forbids now to -inf (no-op without a grammar, or
  // before a lazy grammar's trigger). Call before sampling.
  void constrain(std::span<float> logits);
  bool constrained() const { return constraint_ != nullptr; }

  // The id chosen for this step: returns the text that became final. After it, finished()
  // says whether the sequence ended (EOS, max tokens, stop string).
  std::string accept(int32_t id);
  // Ends the sequence early (client gone, error).
  void cancel() { finish_ = FinishReason::cancelled; }
  // At the end: the text still held back (none after a stop string or cancel).
  std::string flush();

  bool finished() const { return finish_.has_value(); }
  FinishReason finish_reason() const { return finish_.value_or(FinishReason::max_tokens); }
  const std::optional<std::string>& stop_string() const { return stops_.matched(); }
  const std::vector<int32_t>& generated() const { return generated_; }
  int32_t last_token() const { return history_.back(); }

 private:
  GenerationRequest request_;
  const std::vector<int32_t>& eos_ids_;
  model::KVCache cache_;
  int cached_ = 0;
  int prefilled_ = 0;
  sampling::Sampler sampler_;
  sampling::StopStringMatcher stops_;
  tokenizer::StreamDecoder decoder_;
  std::vector<int32_t> history_;
  std::vector<int32_t> generated_;
  std::optional<FinishReason> finish_;
  std::unique_ptr<grammar::Constraint> constraint_;
  grammar::TokenMask mask_;
};

}  // namespace pensieve::engine
