#pragma once
// Random ordinary token ids (100 … 31999 of Phi-3's vocabulary) for the bench/gpu tools' prompts.
#include <cstdint>
#include <random>
#include <vector>

inline std::vector<int32_t> random_prompt(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(100, 31999);
  std::vector<int32_t> p(static_cast<std::size_t>(n));
  for (auto& t : p) t = pick(rng);
  return p;
}
