// The model's rotary embedding (model/rope.h): LongRoPE's attention factor folded into the
// attention scale gives the same scores as q and k both carrying it, and the batched decode
// form (one position a row, rows on either side of the short/long switch) rotates each row as
// the one-sequence form does.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <mlx/mlx.h>

#include "model/config.h"
#include "model/rope.h"
#include "mlx_test_support.h"

namespace mx = mlx::core;
namespace m = pensieve::model;
using pensieve::test::randn;
using pensieve::test::relative_difference;

namespace {

m::ModelConfig longrope_config() {
  m::ModelConfig c;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.original_max_position_embeddings = 16;
  c.rope_scaling = m::RopeScaling::longrope;
  c.rope_short_factor = {1.0f, 1.5f, 2.0f, 3.0f};
  c.rope_long_factor = {2.0f, 4.0f, 8.0f, 16.0f};
  return c;
}

mx::array row(const mx::array& x, int b) { return mx::slice(x, {b, 0, 0, 0}, {b + 1, x.shape(1), x.shape(2), x.shape(3)}); }

}  // namespace

TEST(ModelRope, FoldedAttentionFactorGivesTheSameScores) {
  const auto c = longrope_config();
  const m::Rope rope(c);
  const float f = static_cast<float>(std::sqrt(1.0 + std::log(4.0) / std::log(16.0)));
  EXPECT_NEAR(rope.score_scale(true), f * f, 1e-6);
  EXPECT_EQ(rope.score_scale(false), 1.0f);
  auto q = randn({1, 2, 5, 8}, 1), k = randn({1, 2, 5, 8}, 2);
  for (int offset : {0, 14, 30}) {  // short regime, across the switch, long regime
    const int total = offset + 5;
    auto scores = [&](bool fold) {
      auto qr = rope.apply(q, offset, total, fold), kr = rope.apply(k, offset, total, fold);
      return mx::multiply(mx::matmul(qr, mx::swapaxes(kr, -1, -2)), mx::array(rope.score_scale(fold)));
    };
    EXPECT_LT(relative_difference(scores(true), scores(false)), 1e-5) << "offset " << offset;
    // Folded keys are the unfolded ones without the factor.
    EXPECT_LT(relative_difference(mx::multiply(rope.apply(k, offset, total, true), mx::array(f)),
                                  rope.apply(k, offset, total, false)), 1e-6);
  }
}

TEST(ModelRope, RowsAtTheirOwnPositionsMatchOneSequenceEach) {
  const m::Rope rope(longrope_config());
  auto x = randn({4, 2, 1, 8}, 3);
  for (const std::vector<int>& positions : {std::vector<int>{3, 9, 1, 12},     // all short
                                            std::vector<int>{20, 40, 16, 63},  // all long
                                            std::vector<int>{3, 15, 16, 40}}) {  // both: 15 is the last short one
    const auto positions_array = mx::array(positions.begin(), {4}, mx::int32);
    for (bool fold : {true, false}) {
      auto rows = rope.apply_rows(x, positions, positions_array, fold);
      for (int b = 0; b < 4; ++b) {
        auto alone = rope.apply(row(x, b), positions[b], positions[b] + 1, fold);
        EXPECT_LT(relative_difference(row(rows, b), alone), 1e-6) << "row " << b << " at " << positions[b];
      }
    }
  }
}
