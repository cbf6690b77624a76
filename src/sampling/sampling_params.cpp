// SamplingParams::validate and is_plain_greedy. Ranges follow the OpenAI API where it defines
// one (presence/frequency in [-2, 2]) and llama.cpp/vLLM otherwise.
#include <cmath>
#include <cstdio>
#include <string>

#include "common/error.h"
#include "sampling/sampler.h"

namespace pensieve::sampling {
namespace {

// "%g" keeps messages short and readable ("1.5", not "1.500000"); GCC 12 has no std::format.
std::string show(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

[[noreturn]] void reject(const std::string& field, const std::string& rule, double got) {
  throw Error(field + " must be " + rule + ", got " + show(got));
}

}  // namespace

void SamplingParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f) {
    reject("temperature", "a finite number >= 0", temperature);
  }
  if (top_k < 0) reject("top_k", ">= 0 (0 turns it off)", top_k);
  // Written as !(in range) so that NaN is rejected too.
  if (!(top_p > 0.0f && top_p <= 1.0f)) reject("top_p", "in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) reject("min_p", "in [0, 1]", min_p);
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) {
    reject("repetition_penalty", "a finite number > 0", repetition_penalty);
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    reject("presence_penalty", "in [-2, 2]", presence_penalty);
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    reject("frequency_penalty", "in [-2, 2]", frequency_penalty);
  }
  if (penalty_last_n < -1) reject("penalty_last_n", ">= -1 (-1 means all)", penalty_last_n);
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) reject("logit_bias token id", ">= 0", id);
    // -inf is allowed on purpose: it is the exact way to ban a token. NaN and +inf are not
    // (a +inf logit would swamp the softmax and NaN has no meaning).
    if (std::isnan(bias) || bias == INFINITY) {
      reject("logit_bias[" + std::to_string(id) + "]", "finite or -inf", bias);
    }
  }
}

void SamplingParams::validate(std::size_t vocab_size) const {
  validate();
  for (const auto& [id, bias] : logit_bias) {
    (void)bias;
    if (static_cast<std::size_t>(id) >= vocab_size) {
      throw Error("logit_bias token id " + std::to_string(id) +
                  " is outside the vocabulary (size " + std::to_string(vocab_size) + ")");
    }
  }
}

bool SamplingParams::uses_penalties() const {
  if (penalty_last_n == 0) return false;
  return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
}

bool SamplingParams::is_greedy() const { return temperature < kGreedyTemperature; }

bool SamplingParams::is_plain_greedy() const {
  return is_greedy() && logit_bias.empty() && !uses_penalties();
}

}  // namespace pensieve::sampling
