#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace pensieve::model {
namespace mx = mlx::core;

namespace {
// MLX's fast::rope takes per-pair "frequencies" as the divisor of the position:
// factor_i * base^(2i/dims), the inverse of Hugging Face's inv_freq.
std::vector<float> scaled_divisors(const std::vector<float>& factors, float base, int dims) {
  std::vector<float> f(factors.size());
  for (std::size_t i = 0; i < factors.size(); ++i)
    f[i] = factors[i] * std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dims));
  return f;
}

kernels::RotarySpec plain_spec(const ModelConfig& c) {
  const float position_scale = c.rope_scaling == RopeScaling::linear ? 1.0f / c.rope_linear_factor : 1.0f;
  return kernels::RotarySpec::from_base(c.rope_dims(), c.rope_theta, position_scale);
}
}  // namespace

Rope::Rope(const ModelConfig& c) : original_max_(c.original_max_position_embeddings) {
  with_factor_.plain = plain_spec(c);
  if (c.rope_scaling == RopeScaling::longrope) {
    const double s = static_cast<double>(c.max_position_embeddings) / c.original_max_position_embeddings;
    if (s > 1.0) factor_ = static_cast<float>(std::sqrt(1.0 + std::log(s) / std::log(original_max_)));
    const int dims = c.rope_dims();
    auto specs = [&](float factor) {
      return Specs{kernels::RotarySpec::from_divisors(dims, scaled_divisors(c.rope_short_factor, c.rope_theta, dims), factor),
                   kernels::RotarySpec::from_divisors(dims, scaled_divisors(c.rope_long_factor, c.rope_theta, dims), factor)};
    };
    with_factor_ = specs(factor_);
    folded_ = dims == c.head_dim && factor_ != 1.0f;
    if (folded_) folded_specs_ = specs(1.0f);
  }
}

const kernels::RotarySpec& Rope::spec_for(int total_len, bool fold) const {
  const Specs& s = fold && folded_ ? folded_specs_ : with_factor_;
  return s.long_factors && total_len > original_max_ ? *s.long_factors : s.plain;
}

mx::array Rope::apply(const mx::array& x, int offset, int total_len, bool fold) const {
  return kernels::rotary_embedding(x, spec_for(total_len, fold), offset);
}

mx::array Rope::apply_rows(const mx::array& x, const std::vector<int>& positions, const mx::array& positions_array,
                           bool fold) const {
  // A row's pass ends at its position + 1.
  const auto& short_spec = spec_for(1, fold);
  const auto is_long = [&](int p) { return &spec_for(p + 1, fold) != &short_spec; };
  const auto long_rows = std::count_if(positions.begin(), positions.end(), is_long);
  if (long_rows == 0) return kernels::rotary_embedding(x, short_spec, positions_array);
  const auto& long_spec = spec_for(original_max_ + 1, fold);
  if (long_rows == static_cast<long>(positions.size())) return kernels::rotary_embedding(x, long_spec, positions_array);
  // Rows on both sides of the switch: both rotations, each row taking its own.
  std::vector<uint8_t> flags;
  for (int p : positions) flags.push_back(is_long(p) ? 1 : 0);
  auto pick = mx::reshape(mx::array(flags.begin(), {static_cast<int>(flags.size())}, mx::bool_),
                          {static_cast<int>(flags.size()), 1, 1, 1});
  return mx::where(pick, kernels::rotary_embedding(x, long_spec, positions_array),
                   kernels::rotary_embedding(x, short_spec, positions_array));
}

}  // namespace pensieve::model
