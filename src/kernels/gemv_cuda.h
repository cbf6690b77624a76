#pragma once
// One-row 4-bit matmul (decode's GEMV) as a CUDA kernel through MLX's custom-kernel API. MLX's
// own qmv kernel on CUDA reads the weights at about a quarter of the memory bandwidth of an H100
// (bench/gpu/README.md); this one keeps every lane's 16-byte weight loads in flight at once.
#include <optional>

#include <mlx/mlx.h>

namespace pensieve::kernels {

// y = x · dequantize(w)ᵀ for x holding one row ([..., K] with every leading dimension 1),
// float16 or bfloat16; w in MLX's affine 4-bit layout with group size 64 and scales and biases in
// x's dtype. nullopt where that does not apply (no CUDA GPU, other formats, K not a multiple of
// 1024, out_features not a multiple of 8, PENSIEVE_CUDA_GEMV=0): the caller uses MLX's op then.
std::optional<mlx::core::array> cuda_gemv_q4(const mlx::core::array& x, const mlx::core::array& w,
                                             const mlx::core::array& scales,
                                             const mlx::core::array& biases, int group_size, int bits);

}  // namespace pensieve::kernels
