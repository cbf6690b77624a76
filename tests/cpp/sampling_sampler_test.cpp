// Sampler::sample on fixed logits. Expected distributions and supports are computed here from
// the definitions (softmax, nucleus, min_p), never by calling the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

#include "common/error.h"
#include "sampling/sampler.h"

namespace {

using pensieve::sampling::Sampler;
using pensieve::sampling::SamplingParams;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr int kDraws = 20000;

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max = -INFINITY;
  for (float l : logits) max = std::max(max, static_cast<double>(l) / temperature);
  std::vector<double> p;
  for (float l : logits) p.push_back(std::exp(static_cast<double>(l) / temperature - max));
  const double sum = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= sum;
  return p;
}

// Keeps only `support` and renormalises.
std::vector<double> restrict_to(std::vector<double> p, const std::set<int>& support) {
  double sum = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!support.count(static_cast<int>(i))) p[i] = 0.0;
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  return p;
}

std::vector<int> draw_counts(const SamplingParams& params, const std::vector<float>& logits,
                             int draws = kDraws) {
  Sampler sampler(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;
    const int32_t id = sampler.sample(copy, {});
    EXPECT_GE(id, 0);
    EXPECT_LT(static_cast<std::size_t>(id), logits.size());
    ++counts[static_cast<std::size_t>(id)];
  }
  return counts;
}

std::set<int> support_of(const std::vector<int>& counts) {
  std::set<int> ids;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) ids.insert(static_cast<int>(i));
  }
  return ids;
}

// Frequencies within 5 standard errors of the expected probabilities (the seed is fixed, so
// this is deterministic; 5 sigma keeps it independent of which seed was picked), and tokens of
// probability 0 never drawn.
void expect_frequencies(const std::vector<int>& counts, const std::vector<double>& expected) {
  const double n = std::accumulate(counts.begin(), counts.end(), 0.0);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double p = expected[i];
    if (p == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i;
      continue;
    }
    const double tolerance = 5.0 * std::sqrt(p * (1.0 - p) / n) + 1e-9;
    EXPECT_NEAR(counts[i] / n, p, tolerance) << "token " << i;
  }
}

SamplingParams seeded(uint64_t seed = 1234) {
  SamplingParams params;
  params.seed = seed;
  return params;
}

std::vector<float> logs_of(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

const std::vector<float> kLogits = {1.0f, 2.5f, -0.5f, 3.0f, 0.0f, 2.0f, -2.0f, 1.5f};

TEST(Sampler, GreedyPicksTheArgmax) {
  SamplingParams params = seeded();
  params.temperature = 0.0f;
  Sampler sampler(params);
  std::vector<float> logits = kLogits;
  EXPECT_EQ(sampler.sample(logits, {}), 3);
  std::vector<float> tie = {0.0f, 5.0f, 1.0f, 5.0f};
  EXPECT_EQ(sampler.sample(tie, {}), 1);  // ties go to the lowest id
  std::vector<float> with_nan = {kNan, 1.0f, kNan, 2.0f, -kInf};
  EXPECT_EQ(sampler.sample(with_nan, {}), 3);
}

TEST(Sampler, TinyTemperatureIsGreedy) {
  SamplingParams params = seeded();
  params.temperature = 1e-7f;
  Sampler sampler(params);
  for (int i = 0; i < 100; ++i) {
    std::vector<float> logits = {2.0f, 2.0001f, 1.0f};
    EXPECT_EQ(sampler.sample(logits, {}), 1);
  }
}

TEST(Sampler, TemperatureScalesTheSoftmax) {
  for (float temperature : {1.0f, 0.5f, 2.0f}) {
    SamplingParams params = seeded(77);
    params.temperature = temperature;
    expect_frequencies(draw_counts(params, kLogits), softmax(kLogits, temperature));
  }
}

TEST(Sampler, DividesTheLogitsInPlaceByTheTemperature) {
  SamplingParams params = seeded();
  params.temperature = 0.5f;
  Sampler sampler(params);
  std::vector<float> logits = {1.0f, -3.0f, 0.25f};
  sampler.sample(logits, {});
  EXPECT_FLOAT_EQ(logits[0], 2.0f);
  EXPECT_FLOAT_EQ(logits[1], -6.0f);
  EXPECT_FLOAT_EQ(logits[2], 0.5f);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams params = seeded();
  params.top_k = 1;
  params.temperature = 1.5f;
  const std::vector<int> counts = draw_counts(params, kLogits, 2000);
  EXPECT_EQ(counts[3], 2000);
}

TEST(Sampler, TopKKeepsTheKLargest) {
  SamplingParams params = seeded();
  params.top_k = 3;  // logits 3.0 (id 3), 2.5 (id 1), 2.0 (id 5)
  const std::set<int> largest = {1, 3, 5};
  const std::vector<int> counts = draw_counts(params, kLogits);
  EXPECT_EQ(support_of(counts), largest);
  expect_frequencies(counts, restrict_to(softmax(kLogits, 1.0), largest));
}

TEST(Sampler, TopKBreaksTiesTowardLowerIds) {
  SamplingParams params = seeded();
  params.top_k = 2;
  const std::vector<float> logits = {1.0f, 3.0f, 1.0f, 0.0f, 1.0f};
  EXPECT_EQ(support_of(draw_counts(params, logits, 2000)), (std::set<int>{0, 1}));
}

TEST(Sampler, TopPKeepsTheNucleus) {
  // Sorted: 0.4 (id 1), 0.25 (id 3), 0.2 (id 4), 0.1 (id 2), 0.05 (id 0). Cumulative 0.4, 0.65,
  // 0.85, 0.95, 1.0: the nucleus is the shortest prefix reaching top_p.
  const std::vector<double> p = {0.05, 0.4, 0.1, 0.25, 0.2};
  const std::vector<float> logits = logs_of(p);
  const std::vector<std::pair<float, std::set<int>>> cases = {
      {0.3f, {1}}, {0.6f, {1, 3}}, {0.7f, {1, 3, 4}}, {0.9f, {1, 2, 3, 4}}, {0.97f, {0, 1, 2, 3, 4}}};
  for (const auto& [top_p, nucleus] : cases) {
    SamplingParams params = seeded(5);
    params.top_p = top_p;
    const std::vector<int> counts = draw_counts(params, logits);
    EXPECT_EQ(support_of(counts), nucleus) << "top_p " << top_p;
    expect_frequencies(counts, restrict_to(p, nucleus));
  }
}

TEST(Sampler, MinPKeepsTokensNearTheTop) {
  const std::vector<double> p = {0.5, 0.2, 0.04, 0.26};
  const std::vector<float> logits = logs_of(p);
  // Thresholds: 0.1 * 0.5 = 0.05 drops id 2; 0.45 * 0.5 = 0.225 also drops id 1.
  const std::vector<std::pair<float, std::set<int>>> cases = {
      {0.1f, {0, 1, 3}}, {0.45f, {0, 3}}, {1.0f, {0}}};
  for (const auto& [min_p, kept] : cases) {
    SamplingParams params = seeded(9);
    params.min_p = min_p;
    const std::vector<int> counts = draw_counts(params, logits);
    EXPECT_EQ(support_of(counts), kept) << "min_p " << min_p;
    expect_frequencies(counts, restrict_to(p, kept));
  }
}

TEST(Sampler, FiltersCombineInOrder) {
  // temperature 2 flattens to q = softmax(logits / 2); top_k 4 keeps ids 3, 1, 5, 7; top_p then
  // works on q renormalised over those four; min_p on what is left.
  SamplingParams params = seeded(11);
  params.temperature = 2.0f;
  params.top_k = 4;
  params.top_p = 0.8f;
  params.min_p = 0.8f;
  std::vector<double> q = restrict_to(softmax(kLogits, 2.0), {1, 3, 5, 7});
  // q over {3, 1, 5, 7} ∝ exp(1.5), exp(1.25), exp(1.0), exp(0.75): 0.350, 0.273, 0.212,
  // 0.165. Cumulative 0.35, 0.62, 0.83 → nucleus {3, 1, 5}; min_p 0.8 keeps q >= 0.8 * q[3],
  // and q[1] / q[3] = exp(-0.25) = 0.7788, so only id 3 is left.
  ASSERT_NEAR(q[1] / q[3], std::exp(-0.25), 1e-12);
  const std::vector<int> counts = draw_counts(params, kLogits, 2000);
  EXPECT_EQ(support_of(counts), (std::set<int>{3}));

  params.min_p = 0.7f;  // now id 1 passes (0.7788) and id 5 does not (exp(-0.5) = 0.607)
  expect_frequencies(draw_counts(params, kLogits), restrict_to(q, {1, 3}));
}

TEST(Sampler, LogitBiasBansAndForces) {
  SamplingParams params = seeded();
  params.logit_bias[3] = -kInf;
  params.logit_bias[1] = -kInf;
  std::vector<int> counts = draw_counts(params, kLogits);
  EXPECT_EQ(counts[3], 0);
  EXPECT_EQ(counts[1], 0);
  std::vector<float> biased = kLogits;
  biased[3] = -kInf;
  biased[1] = -kInf;
  expect_frequencies(counts, softmax(biased, 1.0));

  SamplingParams forced = seeded();
  forced.logit_bias[6] = 100.0f;  // the smallest logit, -2, becomes 98
  EXPECT_EQ(draw_counts(forced, kLogits, 2000)[6], 2000);
  forced.temperature = 0.0f;
  Sampler greedy(forced);
  std::vector<float> logits = kLogits;
  EXPECT_EQ(greedy.sample(logits, {}), 6);
}

TEST(Sampler, NeverPicksMinusInfOrNan) {
  SamplingParams params = seeded();
  params.temperature = 5.0f;  // flat, so a bad token would show up quickly
  const std::vector<float> logits = {kNan, 0.0f, -kInf, 0.0f, kNan, -kInf, 0.0f};
  EXPECT_EQ(support_of(draw_counts(params, logits, 3000)), (std::set<int>{1, 3, 6}));
  params.top_p = 0.5f;
  params.min_p = 0.1f;
  params.top_k = 5;
  const std::set<int> support = support_of(draw_counts(params, logits, 3000));
  EXPECT_FALSE(support.empty());
  for (int id : support) EXPECT_TRUE(id == 1 || id == 3 || id == 6) << id;
}

TEST(Sampler, PlusInfLogitsShareTheProbability) {
  SamplingParams params = seeded();
  const std::vector<float> logits = {1.0f, kInf, 1e30f, kInf, kNan};
  const std::vector<int> counts = draw_counts(params, logits);
  expect_frequencies(counts, {0.0, 0.5, 0.0, 0.5, 0.0});
}

TEST(Sampler, ThrowsWhenNoTokenIsUsable) {
  for (float temperature : {0.0f, 1.0f}) {
    SamplingParams params = seeded();
    params.temperature = temperature;
    Sampler sampler(params);
    std::vector<float> logits = {-kInf, kNan, -kInf};
    EXPECT_THROW(sampler.sample(logits, {}), pensieve::Error);
    std::vector<float> none;
    EXPECT_THROW(sampler.sample(none, {}), pensieve::Error);
    std::vector<float> banned = {1.0f, 2.0f};
    SamplingParams ban_all = params;
    ban_all.logit_bias = {{0, -kInf}, {1, -kInf}};
    Sampler banning(ban_all);
    EXPECT_THROW(banning.sample(banned, {}), pensieve::Error);
  }
}

TEST(Sampler, RejectsBiasIdsOutsideTheLogits) {
  SamplingParams params = seeded();
  params.logit_bias[8] = 1.0f;
  Sampler sampler(params);
  std::vector<float> logits = kLogits;  // ids 0..7
  EXPECT_THROW(sampler.sample(logits, {}), pensieve::Error);
}

std::vector<int32_t> sequence(const SamplingParams& params, int length) {
  Sampler sampler(params);
  std::vector<int32_t> ids;
  for (int i = 0; i < length; ++i) {
    std::vector<float> logits = kLogits;
    ids.push_back(sampler.sample(logits, {}));
  }
  return ids;
}

TEST(Sampler, SameSeedSameChoices) {
  SamplingParams params = seeded(42);
  params.temperature = 3.0f;
  params.top_p = 0.95f;
  EXPECT_EQ(sequence(params, 300), sequence(params, 300));
  SamplingParams other = params;
  other.seed = 43;
  EXPECT_NE(sequence(params, 300), sequence(other, 300));
  SamplingParams unseeded = params;
  unseeded.seed.reset();
  EXPECT_NE(sequence(unseeded, 300), sequence(unseeded, 300));
}

// The draw is specified exactly so that a seed means the same tokens on every platform:
// u = (top 53 bits of one mt19937_64 output) * 2^-53, then the first token in id order whose
// cumulative weight exceeds u times the total. Recomputed here from that definition.
TEST(Sampler, DrawIsTheInverseCdfOfAPortableUniform) {
  SamplingParams params = seeded(2024);
  Sampler sampler(params);
  std::mt19937_64 reference(2024);
  const std::vector<double> p = softmax(kLogits, 1.0);
  for (int i = 0; i < 2000; ++i) {
    const double u = static_cast<double>(reference() >> 11) / 9007199254740992.0;  // 2^53
    double cumulative = 0.0;
    std::size_t expected = p.size() - 1;
    for (std::size_t id = 0; id < p.size(); ++id) {
      cumulative += p[id];
      if (u < cumulative) {
        expected = id;
        break;
      }
    }
    std::vector<float> logits = kLogits;
    ASSERT_EQ(sampler.sample(logits, {}), static_cast<int32_t>(expected)) << "draw " << i;
  }
}

// The standard fixes mt19937_64's output: default seed 5489, 10000th value below.
TEST(Sampler, GeneratorIsTheStandardMersenneTwister) {
  std::mt19937_64 generator(5489u);
  generator.discard(9999);
  EXPECT_EQ(generator(), 9981545732273789042ull);
}

}  // namespace
