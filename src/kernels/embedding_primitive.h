#pragma once
// MLX graph node for the embedding lookup of a quantized table in the CPU kernels' tiled16 layout
// (linear.h's embedding_rows): MLX's path — each row taken out of its tile by gathers, then
// mx::dequantize's CPU fallback of shifts, casts, a multiply and an add — is ~88 graph nodes a
// decode step, each costing more than its arithmetic (bench/README.md): this is one.
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// Inputs: ids (int32, any shape), the packed weights (uint32 [N, K·bits/32]) and float16 scales
// and biases ([N, K/group_size]), all three tiled16 (cpu_layout.h). Output: ids' shape + [K]
// float32, each value float16(float16(q · scale) + bias) as mx::dequantize rounds it on the CPU.
class CpuEmbedRows : public mx::UnaryPrimitive {
 public:
  CpuEmbedRows(mx::Stream stream, int bits, int group_size)
      : mx::UnaryPrimitive(stream), bits_(bits), group_size_(group_size) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "PensieveCpuEmbedRows"; }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;

 private:
  int bits_;
  int group_size_;
};

}  // namespace pensieve::kernels
