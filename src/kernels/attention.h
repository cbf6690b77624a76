#pragma once
// The one attention entry point of the model: softmax(q·kᵀ·scale)·v over each sequence's stored
// keys and values, causal where a pass brings several queries. Which implementation runs is
// decided here: Pensieve's CPU kernel (attention_cpu.h) as one MLX graph node for the whole
// batch, or MLX's own ops (off the CPU, or with PENSIEVE_CPU_KERNELS=0, the reference path).
#include <optional>
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// One sequence's keys and values of one layer as the cache stores them: whole buffers, of which
// the first `length` positions are valid.
struct StoredKV {
  // float [1, kv_heads, capacity, head_dim] (any float dtype; the CPU kernel reads float32 and
  // float16), or (bits > 0) packed uint32 [.., head_dim*bits/32]
  mx::array keys, values;
  // bits > 0: MLX affine quantization along head_dim, [1, kv_heads, capacity, head_dim/group]
  std::optional<mx::array> key_scales, key_biases, value_scales, value_biases;
  int length = 0;
  int bits = 0;
  int group_size = 0;
};

// q: [B, heads, L, head_dim], row b at positions kv[b].length - L … kv[b].length - 1 (the new
// positions are already stored). Returns [B, L, heads*head_dim] in q's dtype (float keys and
// values of another dtype, float16 beside float32 queries, are read as q's).
mx::array attention(const mx::array& q, const std::vector<StoredKV>& kv, float scale);

// The same through MLX's own ops only (mx::fast::scaled_dot_product_attention; for quantized
// keys and values mlx-lm's quantized_matmul formulation): the reference path.
mx::array attention_with_mlx_ops(const mx::array& q, const std::vector<StoredKV>& kv, float scale);

// Whether attention() takes the CPU kernel for these inputs (tests and benchmarks).
bool attention_uses_cpu_kernel(const mx::array& q, const std::vector<StoredKV>& kv);

}  // namespace pensieve::kernels
