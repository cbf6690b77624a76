#pragma once
// Rotary position embedding for Phi-3: plain, linear-scaled, or LongRoPE ("su"/"longrope").
//
// LongRoPE as the reference (Hugging Face) model defines it: the short factors while the sequence
// fits in original_max_position_embeddings, the long factors beyond, and in both regimes an
// attention factor sqrt(1 + ln(s)/ln(original)) with s = max/original applied to q and k.
// The choice is made per forward pass from the total length after it, as transformers does;
// keys already cached keep the rotation they were stored with. (mlx-lm always uses the long
// factors, which changes outputs for every prompt shorter than 4096 tokens.)
//
// Where the rotation covers the whole head (Phi-3), q and k both carrying the attention factor f
// is the same as scores scaled by f²: with `fold`, the factor goes into the attention scale
// (score_scale) instead of multiplying q and k, two elementwise passes fewer a layer (on a GPU,
// two kernels each), and keys are cached without it. The model folds for unquantized caches
// only: a quantized cache stores keys with the factor, as mlx-lm's does (its float16 scales
// would round differently otherwise). A cache's keys are always stored one way.
#include <optional>
#include <vector>

#include <mlx/mlx.h>

#include "kernels/rope.h"
#include "model/config.h"

namespace pensieve::model {

class Rope {
 public:
  explicit Rope(const ModelConfig& config);
  // x: [B, heads, L, head_dim] at positions offset..offset+L-1; total_len = offset + L of the
  // whole pass (decides short vs long factors).
  mlx::core::array apply(const mlx::core::array& x, int offset, int total_len, bool fold) const;
  // One new position per row: x [B, heads, 1, head_dim], row b at positions[b] (the same values
  // as positions_array, int32 [B]). Rows may fall on either side of LongRoPE's switch.
  mlx::core::array apply_rows(const mlx::core::array& x, const std::vector<int>& positions,
                              const mlx::core::array& positions_array, bool fold) const;
  // What the attention scale must be multiplied by: the attention factor squared where folded, else 1.
  float score_scale(bool fold) const { return fold && folded_ ? factor_ * factor_ : 1.0f; }
  // The rotation a pass ending at total_len uses (one object per regime: compare addresses).
  const kernels::RotarySpec& spec_for(int total_len, bool fold) const;

 private:
  struct Specs {
    kernels::RotarySpec plain;  // plain and linear-scaled RoPE, and LongRoPE's short factors
    std::optional<kernels::RotarySpec> long_factors;  // LongRoPE past original_max_position_embeddings
  };

  int original_max_ = 0;
  Specs with_factor_, folded_specs_;
  bool folded_ = false;  // the rotation covers the whole head: folded_specs_ carry no factor
  float factor_ = 1.0f;
};

}  // namespace pensieve::model
