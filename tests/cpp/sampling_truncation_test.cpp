// top_k / top_p / min_p at Phi-3's vocabulary size, against a reference that sorts everything.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "sampling/candidate.h"
#include "sampling/sampler.h"
#include "sampling/truncation.h"

namespace {

using pensieve::sampling::Candidate;
constexpr std::size_t kVocab = 32064;

// Logits shaped like a language model's: most tokens far below a handful of likely ones.
std::vector<float> model_like_logits(uint64_t seed, float spread) {
  std::mt19937_64 rng(seed);
  std::vector<float> logits(kVocab);
  for (float& l : logits) {
    // Sum of uniforms: a bell shape without std::normal_distribution (implementation-defined).
    double s = 0.0;
    for (int i = 0; i < 4; ++i) s += static_cast<double>(rng() >> 11) * 0x1.0p-53;
    l = static_cast<float>((s - 2.0) * spread);
  }
  for (int i = 0; i < 20; ++i) logits[(static_cast<std::size_t>(i) * 997) % kVocab] += 12.0f;
  return logits;
}

std::vector<Candidate> candidates_of(const std::vector<float>& logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    out.push_back({static_cast<int32_t>(i), logits[i],
                   std::exp(static_cast<double>(logits[i]) - static_cast<double>(max))});
  }
  return out;
}

std::vector<std::size_t> ids_by_logit_desc(const std::vector<float>& logits) {
  std::vector<std::size_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return logits[a] > logits[b]; });
  return order;
}

std::set<int> ids_in(const std::vector<Candidate>& c, std::size_t n) {
  std::set<int> ids;
  for (std::size_t i = 0; i < n; ++i) ids.insert(c[i].id);
  return ids;
}

TEST(Truncation, TopKMatchesAFullSort) {
  const std::vector<float> logits = model_like_logits(1, 3.0f);
  const std::vector<std::size_t> order = ids_by_logit_desc(logits);
  for (std::size_t k : {1u, 5u, 40u, 1000u, 32063u}) {
    std::vector<Candidate> c = candidates_of(logits);
    const std::size_t kept = pensieve::sampling::keep_top_k(c, k);
    ASSERT_EQ(kept, k);
    for (std::size_t i = 0; i < k; ++i) ASSERT_EQ(c[i].id, static_cast<int>(order[i])) << i;
  }
}

TEST(Truncation, TopPMatchesTheNucleusOfAFullSort) {
  for (float spread : {3.0f, 20.0f}) {  // 20 → flat enough that the nucleus has thousands
    const std::vector<float> logits = model_like_logits(2, spread);
    const std::vector<std::size_t> order = ids_by_logit_desc(logits);
    std::vector<double> p(kVocab);
    const float max = logits[order[0]];
    for (std::size_t i = 0; i < kVocab; ++i) p[i] = std::exp(double(logits[i]) - double(max));
    const double total = std::accumulate(p.begin(), p.end(), 0.0);
    for (double top_p : {0.05, 0.5, 0.9, 0.99, 0.9999}) {
      std::size_t nucleus = 0;
      double cumulative = 0.0;
      while (nucleus < kVocab && cumulative < top_p * total) cumulative += p[order[nucleus++]];
      std::set<int> expected;
      for (std::size_t i = 0; i < nucleus; ++i) expected.insert(static_cast<int>(order[i]));

      std::vector<Candidate> c = candidates_of(logits);
      const std::size_t kept = pensieve::sampling::keep_top_p(c, top_p, false);
      EXPECT_EQ(ids_in(c, kept), expected) << "spread " << spread << " top_p " << top_p;
    }
  }
}

TEST(Truncation, MinPMatchesTheDefinition) {
  const std::vector<float> logits = model_like_logits(3, 4.0f);
  const float max = *std::max_element(logits.begin(), logits.end());
  for (double min_p : {0.0, 1e-6, 0.05, 0.5, 1.0}) {
    std::set<int> expected;
    for (std::size_t i = 0; i < kVocab; ++i) {
      if (std::exp(double(logits[i]) - double(max)) >= min_p) expected.insert(int(i));
    }
    std::vector<Candidate> c = candidates_of(logits);
    EXPECT_EQ(ids_in(c, pensieve::sampling::keep_min_p(c, min_p)), expected) << min_p;
  }
}

}  // namespace
