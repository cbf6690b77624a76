// logit_bias and the three penalties, checked on the logits Sampler leaves behind (it edits them
// in place; temperature 0 leaves them unscaled). Expected values are the published formulas.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "common/error.h"
#include "sampling/logits_processors.h"
#include "sampling/sampler.h"

namespace {

using pensieve::sampling::Sampler;
using pensieve::sampling::SamplingParams;

SamplingParams greedy() {
  SamplingParams params;
  params.temperature = 0.0f;
  params.penalty_last_n = -1;
  return params;
}

std::vector<float> after_sampling(const SamplingParams& params, std::vector<float> logits,
                                  const std::vector<int32_t>& history) {
  Sampler sampler(params);
  sampler.sample(logits, history);
  return logits;
}

const std::vector<float> kLogits = {0.5f, -1.0f, 4.0f, 2.0f, 0.0f, -3.0f, 1.0f, 0.0f};

TEST(Penalties, RepetitionDividesPositiveAndMultipliesNegativeOncePerId) {
  SamplingParams params = greedy();
  params.repetition_penalty = 1.3f;
  const std::vector<float> out = after_sampling(params, kLogits, {3, 1, 3, 7, 3, 5});
  std::vector<float> expected = kLogits;
  expected[3] = 2.0f / 1.3f;    // seen three times, penalised once
  expected[1] = -1.0f * 1.3f;
  expected[7] = 0.0f;           // 0 * 1.3
  expected[5] = -3.0f * 1.3f;
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_FLOAT_EQ(out[i], expected[i]) << i;
}

TEST(Penalties, PenaltyBelowOneFavoursSeenTokens) {
  SamplingParams params = greedy();
  params.repetition_penalty = 0.5f;
  const std::vector<float> out = after_sampling(params, kLogits, {2, 5});
  EXPECT_FLOAT_EQ(out[2], 8.0f);
  EXPECT_FLOAT_EQ(out[5], -1.5f);
}

TEST(Penalties, PresenceAndFrequencyFollowOpenAi) {
  SamplingParams params = greedy();
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  const std::vector<float> out = after_sampling(params, kLogits, {3, 1, 3, 7, 3});
  std::vector<float> expected = kLogits;
  expected[3] -= 0.5f + 0.25f * 3;
  expected[1] -= 0.5f + 0.25f * 1;
  expected[7] -= 0.5f + 0.25f * 1;
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_FLOAT_EQ(out[i], expected[i]) << i;
}

TEST(Penalties, NegativePresenceAndFrequencyEncourage) {
  SamplingParams params = greedy();
  params.presence_penalty = -2.0f;
  params.frequency_penalty = -1.0f;
  const std::vector<float> out = after_sampling(params, kLogits, {6, 6});
  EXPECT_FLOAT_EQ(out[6], 1.0f + 2.0f + 2.0f);
}

TEST(Penalties, RepetitionComesBeforePresenceAndFrequency) {
  SamplingParams params = greedy();
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 1.0f;
  params.frequency_penalty = 0.5f;
  const std::vector<float> out = after_sampling(params, kLogits, {2, 2, 1});
  EXPECT_FLOAT_EQ(out[2], 4.0f / 2.0f - 1.0f - 0.5f * 2);
  EXPECT_FLOAT_EQ(out[1], -1.0f * 2.0f - 1.0f - 0.5f);
}

TEST(Penalties, LogitBiasComesFirst) {
  SamplingParams params = greedy();
  params.logit_bias[0] = -3.0f;  // 0.5 → -2.5, then the penalty multiplies it
  params.repetition_penalty = 2.0f;
  const std::vector<float> out = after_sampling(params, kLogits, {0});
  EXPECT_FLOAT_EQ(out[0], -5.0f);
}

TEST(Penalties, OnlyTheLastNIdsCount) {
  SamplingParams params = greedy();
  params.frequency_penalty = 1.0f;
  params.penalty_last_n = 3;
  const std::vector<float> out = after_sampling(params, kLogits, {2, 2, 2, 6, 2, 4});
  EXPECT_FLOAT_EQ(out[2], 4.0f - 1.0f);  // one occurrence inside the window
  EXPECT_FLOAT_EQ(out[6], 0.0f);
  EXPECT_FLOAT_EQ(out[4], -1.0f);

  params.penalty_last_n = 0;  // off
  EXPECT_EQ(after_sampling(params, kLogits, {2, 2, 6}), kLogits);
  params.penalty_last_n = 100;  // longer than the history: all of it
  EXPECT_FLOAT_EQ(after_sampling(params, kLogits, {2, 2, 6})[2], 2.0f);
}

TEST(Penalties, ChangeWhichTokenGreedyPicks) {
  SamplingParams params = greedy();
  params.repetition_penalty = 2.5f;  // id 2: 4 → 1.6, below id 3's 2.0
  Sampler sampler(params);
  std::vector<float> logits = kLogits;
  const std::vector<int32_t> history = {2};
  EXPECT_EQ(sampler.sample(logits, history), 3);
}

TEST(Penalties, RejectHistoryIdsOutsideTheLogits) {
  SamplingParams params = greedy();
  params.presence_penalty = 1.0f;
  Sampler sampler(params);
  std::vector<float> logits = kLogits;
  const std::vector<int32_t> bad = {1, 8};
  EXPECT_THROW(sampler.sample(logits, bad), pensieve::Error);
  const std::vector<int32_t> negative = {-1};
  EXPECT_THROW(sampler.sample(logits, negative), pensieve::Error);
}

TEST(Penalties, WindowIsTheTail) {
  const std::vector<int32_t> history = {1, 2, 3, 4};
  using pensieve::sampling::penalty_window;
  EXPECT_EQ(penalty_window(history, -1).size(), 4u);
  EXPECT_EQ(penalty_window(history, 0).size(), 0u);
  const auto tail = penalty_window(history, 2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0], 3);
  EXPECT_EQ(tail[1], 4);
}

}  // namespace
