#include "model/rope.h"

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

Rope::Rope(const ModelConfig& c) : original_max_(c.original_max_position_embeddings), plain_(plain_spec(c)) {
  if (c.rope_scaling != RopeScaling::longrope) return;
  float attention_factor = 1.0f;
  const double s = static_cast<double>(c.max_position_embeddings) / c.original_max_position_embeddings;
  if (s > 1.0) attention_factor = static_cast<float>(std::sqrt(1.0 + std::log(s) / std::log(original_max_)));
  const int dims = c.rope_dims();
  plain_ = kernels::RotarySpec::from_divisors(dims, scaled_divisors(c.rope_short_factor, c.rope_theta, dims),
                                              attention_factor);
  long_ = kernels::RotarySpec::from_divisors(dims, scaled_divisors(c.rope_long_factor, c.rope_theta, dims),
                                             attention_factor);
}

mx::array Rope::apply(const mx::array& x, int offset, int total_len) const {
  const auto& spec = long_ && total_len > original_max_ ? *long_ : plain_;
  return kernels::rotary_embedding(x, spec, offset);
}

}  // namespace pensieve::model
