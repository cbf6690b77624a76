#include "model/rope.h"

#include <cmath>

namespace pensieve::model {
namespace mx = mlx::core;

namespace {
// MLX's fast::rope takes per-pair "frequencies" as the divisor of the position:
// factor_i * base^(2i/dims), the inverse of Hugging Face's inv_freq.
mx::array scaled_freqs(const std::vector<float>& factors, float base, int dims) {
  std::vector<float> f(factors.size());
  for (std::size_t i = 0; i < factors.size(); ++i)
    f[i] = factors[i] * std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dims));
  return mx::array(f.data(), {static_cast<int>(f.size())}, mx::float32);
}
}  // namespace

Rope::Rope(const ModelConfig& c) : dims_(c.rope_dims()), base_(c.rope_theta) {
  original_max_ = c.original_max_position_embeddings;
  if (c.rope_scaling == RopeScaling::linear) position_scale_ = 1.0f / c.rope_linear_factor;
  if (c.rope_scaling == RopeScaling::longrope) {
    short_freqs_ = scaled_freqs(c.rope_short_factor, base_, dims_);
    long_freqs_ = scaled_freqs(c.rope_long_factor, base_, dims_);
    double s = static_cast<double>(c.max_position_embeddings) / c.original_max_position_embeddings;
    if (s > 1.0) attention_factor_ = static_cast<float>(std::sqrt(1.0 + std::log(s) / std::log(original_max_)));
  }
}

mx::array Rope::apply(const mx::array& x, int offset, int total_len) const {
  if (!short_freqs_) return mx::fast::rope(x, dims_, false, base_, position_scale_, offset);
  const auto& freqs = total_len > original_max_ ? *long_freqs_ : *short_freqs_;
  mx::array scaled = x;
  if (attention_factor_ != 1.0f) {
    const int head_dim = x.shape(-1);
    auto factor = mx::array(attention_factor_, x.dtype());
    if (dims_ == head_dim) {
      scaled = mx::multiply(x, factor);
    } else {  // partial rotary: only the rotated part carries the factor
      auto parts = mx::split(x, mx::Shape{dims_}, -1);
      scaled = mx::concatenate({mx::multiply(parts[0], factor), parts[1]}, -1);
    }
  }
  return mx::fast::rope(scaled, dims_, false, std::nullopt, 1.0f, offset, freqs);
}

}  // namespace pensieve::model
