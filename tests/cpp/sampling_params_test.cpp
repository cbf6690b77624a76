// SamplingParams::validate: every field's range, with a message that names the field.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "common/error.h"
#include "sampling/sampler.h"

namespace {

using pensieve::sampling::SamplingParams;

std::string rejection(const std::function<void(SamplingParams&)>& change) {
  SamplingParams params;
  change(params);
  try {
    params.validate();
  } catch (const pensieve::Error& error) {
    return error.what();
  }
  return "(accepted)";
}

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(SamplingParams, DefaultsAreValid) { EXPECT_EQ(rejection([](SamplingParams&) {}), "(accepted)"); }

TEST(SamplingParams, NamesTheFieldAndTheValue) {
  EXPECT_EQ(rejection([](auto& p) { p.top_p = 1.5f; }), "top_p must be in (0, 1], got 1.5");
  EXPECT_EQ(rejection([](auto& p) { p.temperature = -0.5f; }),
            "temperature must be a finite number >= 0, got -0.5");
  EXPECT_EQ(rejection([](auto& p) { p.top_k = -1; }), "top_k must be >= 0 (0 turns it off), got -1");
  EXPECT_EQ(rejection([](auto& p) { p.min_p = 2.0f; }), "min_p must be in [0, 1], got 2");
  EXPECT_EQ(rejection([](auto& p) { p.repetition_penalty = 0.0f; }),
            "repetition_penalty must be a finite number > 0, got 0");
  EXPECT_EQ(rejection([](auto& p) { p.presence_penalty = 2.5f; }),
            "presence_penalty must be in [-2, 2], got 2.5");
  EXPECT_EQ(rejection([](auto& p) { p.frequency_penalty = -3.0f; }),
            "frequency_penalty must be in [-2, 2], got -3");
  EXPECT_EQ(rejection([](auto& p) { p.penalty_last_n = -2; }),
            "penalty_last_n must be >= -1 (-1 means all), got -2");
}

TEST(SamplingParams, RejectsEachOutOfRangeValue) {
  auto rejected = [](const std::function<void(SamplingParams&)>& change, const char* field) {
    const std::string message = rejection(change);
    EXPECT_EQ(message.rfind(field, 0), 0u) << message;
  };
  rejected([](auto& p) { p.temperature = kNan; }, "temperature");
  rejected([](auto& p) { p.temperature = kInf; }, "temperature");
  rejected([](auto& p) { p.top_p = 0.0f; }, "top_p");
  rejected([](auto& p) { p.top_p = -0.1f; }, "top_p");
  rejected([](auto& p) { p.top_p = kNan; }, "top_p");
  rejected([](auto& p) { p.min_p = -0.01f; }, "min_p");
  rejected([](auto& p) { p.min_p = kNan; }, "min_p");
  rejected([](auto& p) { p.repetition_penalty = -1.0f; }, "repetition_penalty");
  rejected([](auto& p) { p.repetition_penalty = kNan; }, "repetition_penalty");
  rejected([](auto& p) { p.repetition_penalty = kInf; }, "repetition_penalty");
  rejected([](auto& p) { p.presence_penalty = kNan; }, "presence_penalty");
  rejected([](auto& p) { p.frequency_penalty = 2.01f; }, "frequency_penalty");
  rejected([](auto& p) { p.logit_bias[5] = kNan; }, "logit_bias[5]");
  rejected([](auto& p) { p.logit_bias[7] = kInf; }, "logit_bias[7]");
  rejected([](auto& p) { p.logit_bias[-1] = 1.0f; }, "logit_bias token id");
}

TEST(SamplingParams, AcceptsTheEdgesOfEachRange) {
  EXPECT_EQ(rejection([](auto& p) {
              p.temperature = 0.0f;
              p.top_k = 0;
              p.top_p = 1.0f;
              p.min_p = 1.0f;
              p.presence_penalty = -2.0f;
              p.frequency_penalty = 2.0f;
              p.penalty_last_n = -1;
              p.repetition_penalty = 1e-3f;
              p.logit_bias[3] = -kInf;  // banning a token is allowed
              p.logit_bias[4] = 100.0f;
            }),
            "(accepted)");
}

TEST(SamplingParams, ChecksBiasIdsAgainstTheVocabulary) {
  SamplingParams params;
  params.logit_bias[31] = 1.0f;
  EXPECT_NO_THROW(params.validate(32));
  try {
    params.validate(31);
    FAIL() << "accepted an id outside the vocabulary";
  } catch (const pensieve::Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "logit_bias token id 31 is outside the vocabulary (size 31)");
  }
}

TEST(SamplingParams, ConstructingASamplerValidates) {
  SamplingParams params;
  params.top_p = 0.0f;
  EXPECT_THROW(pensieve::sampling::Sampler{params}, pensieve::Error);
}

TEST(SamplingParams, PlainGreedyOnlyWithoutBiasOrPenalties) {
  SamplingParams params;
  EXPECT_FALSE(params.is_plain_greedy());  // temperature 1
  params.temperature = 0.0f;
  EXPECT_TRUE(params.is_plain_greedy());
  params.top_k = 5;  // irrelevant when greedy
  params.top_p = 0.5f;
  EXPECT_TRUE(params.is_plain_greedy());
  params.repetition_penalty = 1.1f;
  EXPECT_FALSE(params.is_plain_greedy());
  params.penalty_last_n = 0;  // penalties look at nothing
  EXPECT_TRUE(params.is_plain_greedy());
  params.logit_bias[1] = 0.5f;
  EXPECT_FALSE(params.is_plain_greedy());
}

}  // namespace
