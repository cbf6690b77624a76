#pragma once
// A double in [0, 1) from one 64-bit draw. std::uniform_real_distribution's algorithm is left to
// each standard library, so the same seed would pick different tokens on different platforms;
// this is the same everywhere: the top 53 bits scaled by 2^-53.
#include <random>

namespace pensieve::sampling {

inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace pensieve::sampling
