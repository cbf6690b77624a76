#pragma once
// MLX graph node for RMS normalisation on the CPU (norm.h), optionally after a residual add.
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// Inputs: x [..., D] float32, weight [D] float32 — or, with a residual, h and delta [..., D] then
// weight. Outputs: the normalised rows — or, with a residual, h + delta then its normalised rows.
class CpuRmsNorm : public mx::Primitive {
 public:
  CpuRmsNorm(mx::Stream stream, float eps, bool residual)
      : mx::Primitive(stream), eps_(eps), residual_(residual) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  const char* name() const override { return "PensieveCpuRmsNorm"; }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;

 private:
  float eps_;
  bool residual_;
};

}  // namespace pensieve::kernels
