#pragma once
// Shared by the tests that compare MLX arrays: random inputs, relative differences, raw bytes.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::test {

namespace mx = mlx::core;

inline mx::array randn(mx::Shape shape, uint64_t seed) {
  return mx::random::normal(shape, mx::float32, 0.0f, 1.0f, mx::random::key(seed));
}

inline float max_abs(const mx::array& a) { return mx::max(mx::abs(a)).item<float>(); }

// max |got − want| over max |want|.
inline float relative_difference(const mx::array& got, const mx::array& want) {
  return max_abs(mx::subtract(got, want)) / std::max(1e-6f, max_abs(want));
}

// a's bytes, row-major.
inline std::vector<unsigned char> bytes_of(const mx::array& a) {
  auto c = mx::contiguous(a);
  mx::eval(c);
  const auto* p = c.data<unsigned char>();
  return std::vector<unsigned char>(p, p + c.nbytes());
}

}  // namespace pensieve::test
