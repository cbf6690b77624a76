#pragma once
// MLX graph node for the rotary embedding on the CPU (rope.h).
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// Input x [B, heads, L, head_dim] float32, any strides (the heads of a projection are a
// transposed view). Output the same shape, row-contiguous.
class CpuRope : public mx::UnaryPrimitive {
 public:
  CpuRope(mx::Stream stream, int dims, std::vector<float> divisors, float position_scale,
          float attention_factor, int offset)
      : mx::UnaryPrimitive(stream),
        dims_(dims),
        divisors_(std::move(divisors)),
        position_scale_(position_scale),
        attention_factor_(attention_factor),
        offset_(offset) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "PensieveCpuRope"; }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;

 private:
  int dims_;
  std::vector<float> divisors_;
  float position_scale_;
  float attention_factor_;
  int offset_;
};

}  // namespace pensieve::kernels
