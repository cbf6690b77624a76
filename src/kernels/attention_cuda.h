#pragma once
// Attention for a batched decode step on an NVIDIA GPU (MLX's CUDA backend), over the decode
// batch's shared buffers (model::BatchKVCache): one query a row, each row seeing its own span of
// columns. MLX's SDPA takes such spans only as a mask, and with a mask it leaves its fused kernel
// for the composed one (3× the time at 32 rows and 730 positions, measured on an H200). This
// kernel reads exactly each row's span: one thread block a (row, head), warps taking positions
// in turn with an online softmax, combined at the end.
//
// The kernel source is compiled by NVRTC at first use (mx::fast::cuda_kernel); off a CUDA
// device the function declines and the caller takes MLX's SDPA.
#include <optional>

#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// q: [B, heads, 1, head_dim]; keys, values: the whole buffers [B, kv_heads, capacity, head_dim];
// spans: int32 [B, 3], row b attends to columns [spans[b][0], spans[b][1]) of buffers with
// spans[b][2] columns (the capacity, the same for every row). Returns
// [B, 1, heads*head_dim] in q's dtype, or nothing where the kernel does not apply.
std::optional<mx::array> cuda_decode_attention(const mx::array& q, const mx::array& keys, const mx::array& values,
                                               const mx::array& spans, float scale);

// Whether cuda_decode_attention runs here (a CUDA device, PENSIEVE_CUDA_ATTENTION not 0).
bool cuda_decode_attention_available();

}  // namespace pensieve::kernels
