#pragma once
// Rotary position embedding for Phi-3: plain, linear-scaled, or LongRoPE ("su"/"longrope").
//
// LongRoPE as the reference (Hugging Face) model defines it: the short factors while the sequence
// fits in original_max_position_embeddings, the long factors beyond, and in both regimes an
// attention factor sqrt(1 + ln(s)/ln(original)) with s = max/original applied to q and k.
// The choice is made per forward pass from the total length after it, as transformers does;
// keys already cached keep the rotation they were stored with. (mlx-lm always uses the long
// factors, which changes outputs for every prompt shorter than 4096 tokens.)
#include <optional>

#include <mlx/mlx.h>

#include "kernels/rope.h"
#include "model/config.h"

namespace pensieve::model {

class Rope {
 public:
  explicit Rope(const ModelConfig& config);
  // x: [B, heads, L, head_dim] at positions offset..offset+L-1; total_len = offset + L of the
  // whole pass (decides short vs long factors).
  mlx::core::array apply(const mlx::core::array& x, int offset, int total_len) const;

 private:
  int original_max_ = 0;
  kernels::RotarySpec plain_;  // plain and linear-scaled RoPE, and LongRoPE's short factors
  std::optional<kernels::RotarySpec> long_;  // LongRoPE past original_max_position_embeddings
};

}  // namespace pensieve::model
