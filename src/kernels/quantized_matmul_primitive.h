#pragma once
// MLX graph node for the CPU quantized-matmul kernels (qmm_cpu.h): lets the kernels run inside
// MLX's lazy evaluation, ordered with every other op on the CPU stream.
#include <mlx/mlx.h>
#include <mlx/primitives.h>

#include "kernels/qmm_cpu.h"

namespace pensieve::kernels {

namespace mx = mlx::core;

class CpuQuantizedMatmul : public mx::UnaryPrimitive {
 public:
  CpuQuantizedMatmul(mx::Stream stream, int group_size, int bits, WeightLayout layout, QmmIsa isa,
                     InputOp input_op = InputOp::none)
      : mx::UnaryPrimitive(stream),
        group_size_(group_size),
        bits_(bits),
        layout_(layout),
        isa_(isa),
        input_op_(input_op) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "PensieveCpuQuantizedMatmul"; }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;

 private:
  int group_size_;
  int bits_;
  WeightLayout layout_;
  QmmIsa isa_;
  InputOp input_op_;
};

// y = x · Wᵀ, float32 [..., N], for x float32 [..., K] (any strides), w uint32 [N, K*bits/32] (MLX affine
// layout, or tiled16 from to_tiled16), scales and biases [N, K/group_size] (same layout) in
// float32, float16 or bfloat16. Runs on the CPU stream; `isa` picks the kernel variant for the
// rows layout (tests and benchmarks compare them). With InputOp::swiglu x is [M, 2K] and the
// product is silu(x[:, :K]) · x[:, K:] times Wᵀ.
mx::array cpu_quantized_matmul(const mx::array& x, const mx::array& w, const mx::array& scales,
                               const mx::array& biases, int group_size, int bits,
                               WeightLayout layout = WeightLayout::rows,
                               QmmIsa isa = best_qmm_isa(), InputOp input_op = InputOp::none);

}  // namespace pensieve::kernels
