#include "kernels/attention_quantize.h"

#include <cstdint>

#include "common/error.h"

namespace pensieve::kernels {

namespace {

void check_format(int head_dim, int group_size, int bits) {
  if (bits != 4 && bits != 8) throw Error("KV quantization takes 4 or 8 bits");
  if (group_size <= 0 || head_dim % group_size != 0 || (group_size * bits) % 32 != 0)
    throw Error("KV quantization group size " + std::to_string(group_size) + " must divide head_dim " +
                std::to_string(head_dim) + " and fill whole 32-bit words");
}

// [0, bits, 2*bits, …] for the values of one uint32 word.
mx::array word_shifts(int bits) {
  std::vector<uint32_t> s;
  for (int i = 0; i < 32 / bits; ++i) s.push_back(static_cast<uint32_t>(i * bits));
  return mx::array(s.data(), {static_cast<int>(s.size())}, mx::uint32);
}

mx::Shape with_last(const mx::Shape& shape, std::initializer_list<int> last) {
  mx::Shape out(shape.begin(), shape.end() - 1);
  out.insert(out.end(), last.begin(), last.end());
  return out;
}

}  // namespace

bool mlx_quantize_supports_group(int group_size) {
  return group_size == 32 || group_size == 64 || group_size == 128;
}

std::vector<mx::array> affine_quantize_with_ops(const mx::array& x, int group_size, int bits,
                                                mx::Dtype scale_dtype) {
  const int hd = x.shape(-1);
  check_format(hd, group_size, bits);
  const float levels = static_cast<float>((1 << bits) - 1);
  auto groups = mx::reshape(mx::astype(x, mx::float32), with_last(x.shape(), {hd / group_size, group_size}));
  auto lo = mx::min(groups, -1, /*keepdims=*/true);
  auto hi = mx::max(groups, -1, /*keepdims=*/true);
  // The smallest normal float16 keeps a constant group's scale from rounding to zero.
  auto scale = mx::astype(mx::maximum(mx::divide(mx::subtract(hi, lo), mx::array(levels)), mx::array(6.2e-5f)),
                          scale_dtype);
  auto bias = mx::astype(lo, scale_dtype);
  auto codes = mx::round(mx::divide(mx::subtract(groups, mx::astype(bias, mx::float32)), mx::astype(scale, mx::float32)));
  codes = mx::astype(mx::clip(codes, mx::array(0.0f), mx::array(levels)), mx::uint32);
  const int per_word = 32 / bits;
  auto words = mx::reshape(codes, with_last(x.shape(), {hd / per_word, per_word}));
  // Each value has its own bits of the word, so the sum is the bitwise or.
  auto packed = mx::sum(mx::left_shift(words, word_shifts(bits)), -1);
  return {mx::astype(packed, mx::uint32), mx::squeeze(scale, -1), mx::squeeze(bias, -1)};
}

mx::array affine_dequantize_with_ops(const mx::array& packed, const mx::array& scales, const mx::array& biases,
                                     int group_size, int bits, mx::Dtype dtype) {
  const int hd = packed.shape(-1) * 32 / bits;
  check_format(hd, group_size, bits);
  auto codes = mx::bitwise_and(mx::right_shift(mx::expand_dims(packed, -1), word_shifts(bits)),
                               mx::array(static_cast<uint32_t>((1u << bits) - 1)));
  auto groups = mx::reshape(mx::astype(codes, mx::float32), with_last(packed.shape(), {hd / group_size, group_size}));
  auto values = mx::add(mx::multiply(groups, mx::expand_dims(mx::astype(scales, mx::float32), -1)),
                        mx::expand_dims(mx::astype(biases, mx::float32), -1));
  return mx::astype(mx::reshape(values, with_last(packed.shape(), {hd})), dtype);
}

}  // namespace pensieve::kernels
