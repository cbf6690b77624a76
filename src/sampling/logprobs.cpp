#include "sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"

namespace pensieve::sampling {
namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

bool usable(float logit) { return logit > kMinusInf; }  // false for -inf and NaN

// What turns a logit into a log-probability: log_sum_exp, or, when some logits are +inf (an
// overflow upstream), how many: those share the probability equally, the softmax's limit.
struct Normaliser {
  double log_sum_exp;
  std::size_t plus_inf_count;

  float logprob(float logit) const {
    if (!usable(logit)) return kMinusInf;
    if (plus_inf_count > 0) {
      return std::isinf(logit) ? static_cast<float>(-std::log(static_cast<double>(plus_inf_count)))
                               : kMinusInf;
    }
    return static_cast<float>(static_cast<double>(logit) - log_sum_exp);
  }
};

Normaliser normaliser_of(std::span<const float> logits) {
  float max_logit = kMinusInf;
  std::size_t plus_inf = 0;
  for (float logit : logits) {
    if (logit > max_logit) max_logit = logit;
    if (logit == std::numeric_limits<float>::infinity()) ++plus_inf;
  }
  if (!usable(max_logit)) {
    throw Error("cannot compute log-probabilities: every logit is -inf or NaN");
  }
  if (plus_inf > 0) return {std::numeric_limits<double>::infinity(), plus_inf};
  const double max = max_logit;
  double sum = 0.0;
  for (float logit : logits) {
    if (usable(logit)) sum += std::exp(static_cast<double>(logit) - max);
  }
  return {max + std::log(sum), 0};
}

}  // namespace

double log_sum_exp(std::span<const float> logits) { return normaliser_of(logits).log_sum_exp; }

std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int n) {
  const Normaliser normaliser = normaliser_of(logits);
  std::vector<TokenLogprob> all;
  all.reserve(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (usable(logits[i])) all.push_back({static_cast<int32_t>(i), logits[i]});
  }
  const std::size_t want = std::min(all.size(), static_cast<std::size_t>(std::max(n, 0)));
  auto higher = [](const TokenLogprob& a, const TokenLogprob& b) {
    return a.logprob != b.logprob ? a.logprob > b.logprob : a.id < b.id;
  };
  // Ranking the raw logits ranks the log-probabilities (they differ by one constant).
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(want), all.end(),
                    higher);
  all.resize(want);
  for (TokenLogprob& entry : all) entry.logprob = normaliser.logprob(entry.logprob);
  return all;
}

float token_logprob(std::span<const float> logits, int32_t id) {
  if (id < 0 || static_cast<std::size_t>(id) >= logits.size()) {
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                std::to_string(logits.size()) + ")");
  }
  return normaliser_of(logits).logprob(logits[static_cast<std::size_t>(id)]);
}

}  // namespace pensieve::sampling
