#include "sampling/logits_processors.h"

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"

namespace pensieve::sampling {
namespace {

void check_id(int32_t id, std::size_t vocab, const char* what) {
  if (id < 0 || static_cast<std::size_t>(id) >= vocab) {
    throw Error(std::string(what) + " token id " + std::to_string(id) +
                " is outside the vocabulary (size " + std::to_string(vocab) + ")");
  }
}

}  // namespace

void apply_logit_bias(std::span<float> logits, const std::unordered_map<int32_t, float>& bias) {
  for (const auto& [id, value] : bias) {
    check_id(id, logits.size(), "logit_bias");
    logits[static_cast<std::size_t>(id)] += value;
  }
}

std::span<const int32_t> penalty_window(std::span<const int32_t> history, int last_n) {
  if (last_n < 0 || static_cast<std::size_t>(last_n) >= history.size()) return history;
  return history.last(static_cast<std::size_t>(last_n));
}

void apply_penalties(std::span<float> logits, std::span<const int32_t> window,
                     const SamplingParams& params) {
  if (window.empty() || !params.uses_penalties()) return;
  // Sorting a copy groups equal ids, giving each distinct id and its count without a hash map.
  std::vector<int32_t> ids(window.begin(), window.end());
  std::sort(ids.begin(), ids.end());
  const float rep = params.repetition_penalty;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    const int32_t id = ids[i];
    const auto count = static_cast<float>(j - i);
    i = j;
    check_id(id, logits.size(), "history");
    float& logit = logits[static_cast<std::size_t>(id)];
    if (rep != 1.0f) logit = logit > 0.0f ? logit / rep : logit * rep;
    logit -= params.presence_penalty + params.frequency_penalty * count;
  }
}

}  // namespace pensieve::sampling
