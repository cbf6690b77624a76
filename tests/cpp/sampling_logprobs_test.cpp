// Log-probabilities for the API: log-softmax of raw logits, checked against a direct
// computation of log(exp(l) / sum(exp)).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "sampling/logprobs.h"

namespace {

using pensieve::sampling::token_logprob;
using pensieve::sampling::top_logprobs;
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Logprobs, MatchTheLogOfTheSoftmax) {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  double sum = 0.0;
  for (float l : logits) sum += std::exp(double(l));
  auto expected = [&](int id) { return std::log(std::exp(double(logits[std::size_t(id)])) / sum); };

  const auto top = top_logprobs(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].id, 1);  // tie with id 3: lower id first
  EXPECT_EQ(top[1].id, 3);
  EXPECT_EQ(top[2].id, 0);
  for (const auto& entry : top) EXPECT_NEAR(entry.logprob, expected(entry.id), 1e-6);
  for (int id = 0; id < 5; ++id) EXPECT_NEAR(token_logprob(logits, id), expected(id), 1e-6);
}

TEST(Logprobs, StayFiniteForLargeLogits) {
  const std::vector<float> logits = {1000.0f, 999.0f};
  const double log_norm = std::log1p(std::exp(-1.0));
  EXPECT_NEAR(token_logprob(logits, 0), -log_norm, 1e-6);
  EXPECT_NEAR(token_logprob(logits, 1), -1.0 - log_norm, 1e-6);
}

TEST(Logprobs, LeaveOutUnusableTokens) {
  const std::vector<float> logits = {-kInf, 0.0f, std::nanf(""), 0.0f};
  const auto top = top_logprobs(logits, 10);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].id, 1);
  EXPECT_EQ(top[1].id, 3);
  EXPECT_NEAR(top[0].logprob, std::log(0.5), 1e-6);
  EXPECT_EQ(token_logprob(logits, 0), -kInf);
  EXPECT_EQ(token_logprob(logits, 2), -kInf);
  EXPECT_TRUE(top_logprobs(logits, 0).empty());
  EXPECT_TRUE(top_logprobs(logits, -3).empty());
}

TEST(Logprobs, ThrowOnBadInput) {
  const std::vector<float> dead = {-kInf, std::nanf("")};
  EXPECT_THROW(top_logprobs(dead, 1), pensieve::Error);
  const std::vector<float> logits = {0.0f, 1.0f};
  EXPECT_THROW(token_logprob(logits, 2), pensieve::Error);
  EXPECT_THROW(token_logprob(logits, -1), pensieve::Error);
}

TEST(Logprobs, PlusInfTakesAllTheProbability) {
  const std::vector<float> one = {0.0f, kInf, 5.0f};
  EXPECT_EQ(token_logprob(one, 1), 0.0f);
  EXPECT_EQ(token_logprob(one, 2), -kInf);
  const std::vector<float> two = {kInf, 5.0f, kInf};
  EXPECT_NEAR(token_logprob(two, 2), std::log(0.5), 1e-6);
  const auto top = top_logprobs(two, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].id, 0);
  EXPECT_EQ(top[1].id, 2);
  EXPECT_EQ(top[2].logprob, -kInf);
}

}  // namespace
