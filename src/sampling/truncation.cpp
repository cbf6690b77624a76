#include "sampling/truncation.h"

#include <algorithm>

namespace pensieve::sampling {

std::size_t keep_top_k(std::span<Candidate> candidates, std::size_t k) {
  const std::size_t n = candidates.size();
  if (k == 0 || k >= n) k = n;
  auto begin = candidates.begin();
  if (k < n) std::nth_element(begin, begin + static_cast<std::ptrdiff_t>(k - 1), candidates.end(),
                              ranks_higher);
  std::sort(begin, begin + static_cast<std::ptrdiff_t>(k), ranks_higher);
  return k;
}

std::size_t keep_top_p(std::span<Candidate> candidates, double top_p, bool sorted) {
  const std::size_t n = candidates.size();
  if (n <= 1 || top_p >= 1.0) return n;
  double total = 0.0;
  for (const Candidate& c : candidates) total += c.weight;
  const double target = top_p * total;

  auto at = [&](std::size_t i) { return candidates.begin() + static_cast<std::ptrdiff_t>(i); };
  double cumulative = 0.0;
  std::size_t done = 0;
  // 64 covers the nucleus of a typical LLM step at once; each miss widens the next chunk 4x so a
  // flat distribution costs O(n log n) at worst, like a full sort.
  std::size_t chunk = 64;
  while (done < n) {
    const std::size_t end = sorted ? n : std::min(n, done + chunk);
    if (!sorted) {
      if (end < n) std::nth_element(at(done), at(end - 1), candidates.end(), ranks_higher);
      std::sort(at(done), at(end), ranks_higher);
    }
    for (std::size_t i = done; i < end; ++i) {
      cumulative += candidates[i].weight;
      if (cumulative >= target) return i + 1;
    }
    done = end;
    chunk *= 4;
  }
  return n;  // rounding kept the sum just short of the target: keep everything
}

std::size_t keep_min_p(std::span<Candidate> candidates, double min_p) {
  if (min_p <= 0.0 || candidates.empty()) return candidates.size();
  double max_weight = 0.0;
  for (const Candidate& c : candidates) max_weight = std::max(max_weight, c.weight);
  const double threshold = min_p * max_weight;
  // remove_if is stable for the kept elements, so the order the draw walks stays canonical.
  auto kept_end = std::remove_if(candidates.begin(), candidates.end(),
                                 [&](const Candidate& c) { return c.weight < threshold; });
  return static_cast<std::size_t>(kept_end - candidates.begin());
}

}  // namespace pensieve::sampling
