#pragma once
// One-row 4-bit matmuls (decode's GEMV) as CUDA kernels through MLX's custom-kernel API. MLX's
// own qmv kernel on CUDA reads the weights at about a quarter of the memory bandwidth of an H100
// (bench/gpu/README.md); these keep every lane's 16-byte weight loads in flight at once, and for
// float16 dequantize with half2 bit tricks instead of conversions.
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

// cuda_gemv_q4(silu(gate) · up, w, ...) for gate_up = [..., 2K] holding one row of gate then up,
// with the SwiGLU computed while the kernel stages its input (one launch instead of two).
// float16 only; nullopt as above.
std::optional<mlx::core::array> cuda_gemv_q4_swiglu(const mlx::core::array& gate_up, const mlx::core::array& w,
                                                    const mlx::core::array& scales,
                                                    const mlx::core::array& biases, int group_size, int bits);

}  // namespace pensieve::kernels
