// The CPU RMS-norm and rotary-embedding nodes against MLX's own mx::fast::rms_norm and
// mx::fast::rope (the reference), on dense inputs and on the views the model feeds them, and a
// check that each call is one graph node on the CPU (MLX's CPU fallbacks are 11 and 27).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

#include "kernels/norm.h"
#include "kernels/rope.h"
#include "mlx_test_support.h"

namespace {

using pensieve::test::randn;
using pensieve::test::relative_difference;

namespace mx = mlx::core;
namespace k = pensieve::kernels;

std::string node_name(const mx::array& a) { return a.has_primitive() ? a.primitive().name() : "(none)"; }

TEST(RmsNormCpu, MatchesMlxOnRowsAndViews) {
  auto w = mx::add(randn({96}, 1), mx::array(1.0f));
  auto x = randn({3, 5, 96}, 2);
  auto got = k::rms_norm(x, w, 1e-5f);
  EXPECT_EQ(node_name(got), "PensieveCpuRmsNorm");
  EXPECT_LT(relative_difference(got, mx::fast::rms_norm(x, w, 1e-5f)), 1e-6f);

  // A transposed view: the node reads it through its strides.
  auto t = mx::transpose(randn({5, 3, 96}, 3), {1, 0, 2});
  EXPECT_LT(relative_difference(k::rms_norm(t, w, 1e-5f), mx::fast::rms_norm(t, w, 1e-5f)), 1e-6f);
  // Rows of large values, and an eps that matters for tiny ones.
  auto big = mx::multiply(randn({2, 96}, 4), mx::array(1e4f));
  EXPECT_LT(relative_difference(k::rms_norm(big, w, 1e-5f), mx::fast::rms_norm(big, w, 1e-5f)), 1e-6f);
  auto tiny = mx::multiply(randn({2, 96}, 5), mx::array(1e-4f));
  EXPECT_LT(relative_difference(k::rms_norm(tiny, w, 1e-2f), mx::fast::rms_norm(tiny, w, 1e-2f)), 1e-6f);
}

TEST(RmsNormCpu, AddThenNormIsOneNodeWithBothOutputs) {
  auto w = randn({3072}, 6);
  auto h = randn({1, 7, 3072}, 7);
  auto delta = randn({1, 7, 3072}, 8);
  auto [sum, normed] = k::add_rms_norm(h, delta, w, 1e-5f);
  EXPECT_EQ(node_name(sum), "PensieveCpuRmsNorm");
  EXPECT_EQ(sum.siblings().size(), 1u);  // normed comes from the same node
  auto want_sum = mx::add(h, delta);
  EXPECT_EQ(mx::max(mx::abs(mx::subtract(sum, want_sum))).item<float>(), 0.0f);
  EXPECT_LT(relative_difference(normed, mx::fast::rms_norm(want_sum, w, 1e-5f)), 1e-6f);
}

// [B, heads, L, head_dim] as the model makes it: a projection's columns, split into heads and
// transposed (a strided view, not a dense array).
mx::array heads_view(int B, int heads, int L, int hd, uint64_t seed) {
  auto proj = randn({B, L, heads * hd + 8}, seed);
  auto cols = mx::slice(proj, {0, 0, 4}, {B, L, heads * hd + 4});
  return mx::transpose(mx::reshape(cols, {B, L, heads, hd}), {0, 2, 1, 3});
}

TEST(RopeCpu, PlainAndLinearScaledMatchMlx) {
  auto x = heads_view(2, 4, 6, 64, 10);
  for (float position_scale : {1.0f, 0.25f}) {
    auto spec = k::RotarySpec::from_base(64, 10000.0f, position_scale);
    for (int offset : {0, 37, 3000}) {
      auto got = k::rotary_embedding(x, spec, offset);
      EXPECT_EQ(node_name(got), "PensieveCpuRope");
      auto want = mx::fast::rope(x, 64, false, 10000.0f, position_scale, offset);
      EXPECT_LT(relative_difference(got, want), 2e-4f) << "scale " << position_scale << " offset " << offset;
    }
  }
}

TEST(RopeCpu, LongRopeDivisorsAttentionFactorAndPartialRotary) {
  const int hd = 96;
  for (int dims : {96, 64}) {  // Phi-3 rotates all of head_dim; partial rotary keeps the rest as is
    std::vector<float> divisors;
    for (int i = 0; i < dims / 2; ++i)
      divisors.push_back((1.0f + 0.1f * static_cast<float>(i)) * std::pow(10000.0f, 2.0f * i / dims));
    auto spec = k::RotarySpec::from_divisors(dims, divisors, 1.19f);
    auto x = heads_view(1, 32, 5, hd, 11);
    auto got = k::rotary_embedding(x, spec, 100);
    EXPECT_EQ(node_name(got), "PensieveCpuRope");
    auto factor = mx::array(1.19f);
    auto scaled = dims == hd ? mx::multiply(x, factor)
                             : mx::concatenate({mx::multiply(mx::slice(x, {0, 0, 0, 0}, {1, 32, 5, dims}), factor),
                                                mx::slice(x, {0, 0, 0, dims}, {1, 32, 5, hd})},
                                               -1);
    auto want = mx::fast::rope(scaled, dims, false, std::nullopt, 1.0f, 100, *spec.divisors_array);
    EXPECT_LT(relative_difference(got, want), 2e-4f) << "dims " << dims;
    // Features past `dims` pass through untouched (no attention factor).
    if (dims < hd) {
      auto tail = mx::slice(got, {0, 0, 0, dims}, {1, 32, 5, hd});
      auto x_tail = mx::slice(x, {0, 0, 0, dims}, {1, 32, 5, hd});
      EXPECT_EQ(mx::max(mx::abs(mx::subtract(tail, x_tail))).item<float>(), 0.0f);
    }
  }
}

}  // namespace
