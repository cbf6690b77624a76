#pragma once
// The filters that narrow the candidates down before the draw. Each keeps a prefix of the span
// (rearranging it) and returns how many it kept, always at least one.
#include <cstddef>
#include <span>

#include "sampling/candidate.h"

namespace pensieve::sampling {

// Keeps the k candidates that rank highest, sorted by ranks_higher (O(n + k log k)).
// Candidates need only their logits here: this runs before the weights are computed.
std::size_t keep_top_k(std::span<Candidate> candidates, std::size_t k);

// Nucleus: the smallest set of highest-weight candidates whose weight reaches top_p of the
// total. `sorted` says the span is already in ranks_higher order; otherwise it is sorted only as
// far as the nucleus reaches, in growing chunks, so a peaked distribution over 32k tokens costs
// about one nth_element pass. The kept prefix ends up sorted.
std::size_t keep_top_p(std::span<Candidate> candidates, double top_p, bool sorted);

// Keeps candidates whose weight is at least min_p times the largest weight, in their order.
std::size_t keep_min_p(std::span<Candidate> candidates, double min_p);

}  // namespace pensieve::sampling
