#pragma once
// The steps that edit logits in place before a token is chosen, in the order Sampler applies
// them: logit_bias, then repetition penalty, then presence/frequency penalties.
#include <cstdint>
#include <span>
#include <unordered_map>

#include "sampling/sampler.h"

namespace pensieve::sampling {

// logits[id] += bias. Throws pensieve::Error for an id outside the logits.
void apply_logit_bias(std::span<float> logits, const std::unordered_map<int32_t, float>& bias);

// The last `last_n` ids of `history` (-1 → all, 0 → none), the window every penalty looks at.
std::span<const int32_t> penalty_window(std::span<const int32_t> history, int last_n);

// Repetition penalty (HF RepetitionPenaltyLogitsProcessor / llama.cpp): once for every distinct
// id in the window, a positive logit is divided by `penalty` and a negative one multiplied, so a
// penalty > 1 always makes the token less likely. Then the OpenAI penalties over the same window:
// logit -= presence * (count > 0) + frequency * count. Ids outside the logits throw
// pensieve::Error (a caller bug, not a user error, but it must not read out of bounds).
void apply_penalties(std::span<float> logits, std::span<const int32_t> window,
                     const SamplingParams& params);

}  // namespace pensieve::sampling
