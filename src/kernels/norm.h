#pragma once
// RMS normalisation entry points of the model. On the CPU (float32) each is one MLX graph node
// running Pensieve's loop; elsewhere MLX's mx::fast::rms_norm. MLX's CPU backend has no
// rms_norm kernel: its fallback is 11 graph nodes a call, and at one token a step the per-node
// cost, not the arithmetic, is what a decode step pays.
#include <utility>

#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// x · rsqrt(mean(x²) + eps) · weight along the last axis.
mx::array rms_norm(const mx::array& x, const mx::array& weight, float eps);

// The residual step of a pre-norm block in one node: {h + delta, rms_norm(h + delta)}.
std::pair<mx::array, mx::array> add_rms_norm(const mx::array& h, const mx::array& delta,
                                             const mx::array& weight, float eps);

}  // namespace pensieve::kernels
