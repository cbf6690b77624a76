// Sampler::sample: bias → repetition penalty → presence/frequency penalties → (greedy argmax) or
// temperature → top_k → softmax → top_p → min_p → seeded draw. The order is llama.cpp's and
// vLLM's; min_p after top_p compares against the largest probability, which top_p always keeps,
// so the order of those two only decides which normalisation top_p sees (the brief's choice).
#include <cmath>
#include <limits>
#include <utility>

#include "common/error.h"
#include "sampling/logits_processors.h"
#include "sampling/sampler.h"
#include "sampling/truncation.h"
#include "sampling/uniform.h"

namespace pensieve::sampling {
namespace {

uint64_t fresh_seed() {
  std::random_device device;  // yields 32 bits per call
  return (static_cast<uint64_t>(device()) << 32) | device();
}

[[noreturn]] void no_usable_logit() {
  throw Error("cannot sample: every logit is -inf or NaN");
}

// First index of the largest logit, NaN skipped; ties go to the lowest id.
int32_t argmax(std::span<const float> logits) {
  int32_t best = -1;
  float best_logit = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_logit) {  // false for NaN and for -inf
      best_logit = logits[i];
      best = static_cast<int32_t>(i);
    }
  }
  if (best < 0) no_usable_logit();
  return best;
}

}  // namespace

Sampler::Sampler(SamplingParams params)
    : params_(std::move(params)), rng_(params_.seed.value_or(0)) {
  params_.validate();
  if (!params_.seed) rng_.seed(fresh_seed());
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  if (logits.empty()) throw Error("cannot sample: no logits");
  apply_logit_bias(logits, params_.logit_bias);
  apply_penalties(logits, penalty_window(history, params_.penalty_last_n), params_);
  if (params_.is_greedy()) return argmax(logits);

  const float temperature = params_.temperature;
  float max_logit = -std::numeric_limits<float>::infinity();
  candidates_.clear();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (temperature != 1.0f) logits[i] /= temperature;
    const float logit = logits[i];
    if (!(logit > -std::numeric_limits<float>::infinity())) continue;  // -inf or NaN
    candidates_.push_back({static_cast<int32_t>(i), logit, 0.0});
    if (logit > max_logit) max_logit = logit;
  }
  if (candidates_.empty()) no_usable_logit();

  std::span<Candidate> live(candidates_);
  bool sorted = false;
  if (std::isinf(max_logit)) {
    // Some logits are +inf (an overflow upstream): those tokens share all the probability
    // equally, the limit of the softmax as they grow; exp(inf - inf) would be NaN.
    std::size_t kept = 0;
    for (const Candidate& c : live) {
      if (std::isinf(c.logit)) live[kept++] = c;
    }
    live = live.first(kept);
  }
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < live.size()) {
    live = live.first(keep_top_k(live, static_cast<std::size_t>(params_.top_k)));
    sorted = true;
  }
  for (Candidate& c : live) {
    c.weight = std::isinf(max_logit)
                   ? 1.0
                   : std::exp(static_cast<double>(c.logit) - static_cast<double>(max_logit));
  }
  live = live.first(keep_top_p(live, params_.top_p, sorted));
  live = live.first(keep_min_p(live, params_.min_p));

  // One draw whatever the filters kept, so the generator's stream never depends on them.
  double total = 0.0;
  for (const Candidate& c : live) total += c.weight;
  const double target = uniform01(rng_) * total;
  double cumulative = 0.0;
  int32_t last_possible = live.front().id;  // the max-logit token has weight 1: never all zero
  for (const Candidate& c : live) {
    if (c.weight <= 0.0) continue;
    cumulative += c.weight;
    last_possible = c.id;
    if (target < cumulative) return c.id;
  }
  return last_possible;  // rounding left target at the very top of the range
}

}  // namespace pensieve::sampling
