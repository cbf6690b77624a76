#pragma once
// Chooses the next token from one position's logits. Plain C++ on a float vector: the engine
// copies the last position's logits from MLX (32k floats per sequence per step is cheap next to
// a forward pass) and a greedy request without penalties may skip this with an on-device argmax.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sampling/candidate.h"

namespace pensieve::sampling {

struct SamplingParams {
  float temperature = 1.0f;  // 0 → greedy (argmax); top_k/top_p/min_p then do not matter
  int top_k = 0;             // 0 → off
  float top_p = 1.0f;        // 1 → off
  float min_p = 0.0f;        // 0 → off; keeps tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // HF/llama.cpp style: logit/p if > 0 else logit*p, over seen ids
  float presence_penalty = 0.0f;    // OpenAI: minus this once for each id that appeared
  float frequency_penalty = 0.0f;   // OpenAI: minus this times the id's count
  int penalty_last_n = 64;          // how many recent ids the penalties look at; -1 → all
  std::unordered_map<int32_t, float> logit_bias;  // added to the logit before everything else
  std::optional<uint64_t> seed;     // same seed, same choices; none → from std::random_device

  // Temperatures below this are treated as 0 (greedy), as vLLM does: dividing logits by a
  // denormal-sized temperature would overflow them to inf and lose the argmax.
  static constexpr float kGreedyTemperature = 1e-5f;

  // Throws pensieve::Error naming the first out-of-range field (negative temperature, top_p
  // outside (0,1], …). A logit_bias of -inf is accepted: it bans the token.
  void validate() const;
  // validate(), and every logit_bias id must be below vocab_size.
  void validate(std::size_t vocab_size) const;
  // True when sampling reduces to argmax of the raw logits (no bias, no penalties, temp 0).
  bool is_plain_greedy() const;
  bool is_greedy() const;       // temperature below kGreedyTemperature
  bool uses_penalties() const;  // any of the three penalties would change a logit
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params);  // validates `params` (throws pensieve::Error)
  // `logits` is modified in place (bias, penalties, temperature); `history` holds the ids the
  // penalties apply to (prompt and generated so far, the caller decides), oldest first.
  // NaN logits count as -inf; throws pensieve::Error when no token has a usable logit.
  // Greedy sampling uses no randomness; every other call takes exactly one 64-bit draw from the
  // seeded generator, so a seed fixes the whole sequence of choices.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // reused between calls: no allocation per token
};

// Watches generated text for stop strings that may span tokens. `push` returns the text that is
// safe to emit now (nothing that could still be the start of a stop string is released early);
// once a stop string is seen, `stopped()` is true, the text before it is returned and the stop
// string itself is never emitted. When several could match, the one complete earliest in the text
// wins (then the longer one), so the result never depends on how the text was split into pushes.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);
  std::string push(std::string_view text);
  std::string flush();  // at the end of generation: whatever was held back
  bool stopped() const { return matched_.has_value(); }
  const std::optional<std::string>& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  std::optional<std::string> matched_;
  std::size_t max_len_ = 0;
};

}  // namespace pensieve::sampling
