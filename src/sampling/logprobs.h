#pragma once
// Log-probabilities for the OpenAI API's `logprobs` / `top_logprobs`: the log-softmax of the raw
// model logits (before bias, penalties and temperature, as OpenAI and vLLM's default report
// them). Sampler::sample edits logits in place, so take these from a copy or beforehand.
#include <cstdint>
#include <span>
#include <vector>

namespace pensieve::sampling {

struct TokenLogprob {
  int32_t id;
  float logprob;
};

// log(sum(exp(logits))), computed stably; NaN logits count as -inf. Throws pensieve::Error when
// no logit is usable, and returns +inf when one is +inf. In that case (an overflow upstream) the
// +inf tokens share the probability equally and every other token gets -inf, in all three.
double log_sum_exp(std::span<const float> logits);

// The n most likely tokens (n is clamped to [0, logits.size()]), most likely first, ties to the
// lower id. Tokens whose logit is -inf or NaN are left out, so fewer than n may come back.
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int n);

// The log-probability of one token (-inf for a NaN or -inf logit). Throws pensieve::Error when
// `id` is outside the logits.
float token_logprob(std::span<const float> logits, int32_t id);

}  // namespace pensieve::sampling
