#pragma once
// MLX graph node for the CPU attention kernel (attention_cpu.h): one node for a whole batch of
// sequences, ordered with every other op on the CPU stream.
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

#include "kernels/attention_cpu.h"

namespace pensieve::kernels {

namespace mx = mlx::core;

// Inputs: q [B, heads, L, head_dim] float32, then per sequence its keys and values — float32 or
// float16 (every sequence the same) [1, kv_heads, capacity, head_dim] each, or (bits > 0) packed
// keys, key scales, key biases,
// packed values, value scales, value biases. Output [B, L, heads*head_dim] float32.
class CpuAttention : public mx::UnaryPrimitive {
 public:
  CpuAttention(mx::Stream stream, std::vector<int> lengths, float scale, int kv_heads, int bits,
               int group_size)
      : mx::UnaryPrimitive(stream),
        lengths_(std::move(lengths)),
        scale_(scale),
        kv_heads_(kv_heads),
        bits_(bits),
        group_size_(group_size) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "PensieveCpuAttention"; }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;

 private:
  std::vector<int> lengths_;
  float scale_;
  int kv_heads_;
  int bits_;
  int group_size_;
};

}  // namespace pensieve::kernels
