#pragma once
// A token still in the running while the truncation filters (top_k, top_p, min_p) narrow the
// choice down, with its (scaled) logit and unnormalised probability.
#include <cstdint>

namespace pensieve::sampling {

struct Candidate {
  int32_t id;
  float logit;
  double weight;  // exp(logit - max logit); the filters never need normalised probabilities
};

// Highest logit first, ties to the lower id. A strict total order, so partial sorts pick the
// same set in the same order with every standard library: the seeded draw walks this order.
inline bool ranks_higher(const Candidate& a, const Candidate& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

}  // namespace pensieve::sampling
