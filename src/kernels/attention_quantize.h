#pragma once
// Affine quantization of keys and values along their last axis (head_dim) in MLX's layout —
// packed uint32 words, value i of a word in bits [bits*i, bits*i+bits), one scale and bias per
// group — for any group size that divides head_dim, through MLX's ordinary ops. mx::quantize
// and mx::dequantize only take groups of 32, 64 or 128, and head_dim 96 (Phi-3) wants a group of
// 96 (one scale and bias a head row: 4.33 bits a value at 4 bits); these work on every backend.
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// Whether mx::quantize / mx::quantized_matmul take this group size.
bool mlx_quantize_supports_group(int group_size);

// x [..., head_dim] float → {packed uint32 [..., head_dim*bits/32], scales, biases [...,
// head_dim/group]} with scales and biases in `scale_dtype`. The codes are computed against the
// scale and bias as stored (after rounding to scale_dtype), so the stored form dequantizes to
// within half a step of x.
std::vector<mx::array> affine_quantize_with_ops(const mx::array& x, int group_size, int bits,
                                                mx::Dtype scale_dtype);

// The inverse: packed [..., head_dim*bits/32] → [..., head_dim] in `dtype` (scale·code + bias).
mx::array affine_dequantize_with_ops(const mx::array& packed, const mx::array& scales, const mx::array& biases,
                                     int group_size, int bits, mx::Dtype dtype);

}  // namespace pensieve::kernels
