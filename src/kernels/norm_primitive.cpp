#include "kernels/norm_primitive.h"

#include <cmath>
#include <cstddef>

#include <mlx/backend/cpu/encoder.h>

#include "common/error.h"
#include "kernels/strided_input.h"

namespace pensieve::kernels {

namespace {

// One row: out = x · rsqrt(mean(x²) + eps) · w. Eight partial sums: the compiler vectorises
// them (a single float accumulator would have to stay serial), and each sums d/8 squares only.
void normalise_row(const float* x, const float* w, float* out, int d, float eps) {
  float partial[8] = {};
  int i = 0;
  for (; i + 8 <= d; i += 8)
    for (int j = 0; j < 8; ++j) partial[j] += x[i + j] * x[i + j];
  double sum = 0.0;
  for (; i < d; ++i) sum += static_cast<double>(x[i]) * x[i];
  for (float p : partial) sum += p;
  const float inv = static_cast<float>(1.0 / std::sqrt(sum / d + static_cast<double>(eps)));
  for (i = 0; i < d; ++i) out[i] = x[i] * inv * w[i];
}

}  // namespace

void CpuRmsNorm::eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  for (auto& out : outputs) out.set_data(mx::allocator::malloc(out.nbytes()));
  const mx::array& x = inputs[0];
  const int d = x.shape(-1);
  const std::size_t rows = x.size() / static_cast<std::size_t>(d);
  const float eps = eps_;

  if (!inputs.back().flags().row_contiguous) throw Error("PensieveCpuRmsNorm: the weight must be contiguous");
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  for (auto& out : outputs) encoder.set_output_array(out);
  // Views are read densely inside the task (a copy) rather than through a contiguous node in the
  // graph; the encoder keeps the arrays alive until the task has run.
  const bool residual = residual_;
  encoder.dispatch([first = mx::array::unsafe_weak_copy(inputs[0]),
                    second = mx::array::unsafe_weak_copy(inputs[residual ? 1 : 0]),
                    w = inputs.back().data<float>(), sum = residual ? outputs[0].data<float>() : nullptr,
                    out = outputs.back().data<float>(), residual, rows, d, eps]() {
    std::vector<std::byte> first_copy, second_copy;
    const float* in = dense_floats(first, first_copy);
    if (!residual) {
      for (std::size_t r = 0; r < rows; ++r) normalise_row(in + r * d, w, out + r * d, d, eps);
      return;
    }
    const float* delta = dense_floats(second, second_copy);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t at = r * static_cast<std::size_t>(d);
      for (int i = 0; i < d; ++i) sum[at + i] = in[at + i] + delta[at + i];
      normalise_row(sum + at, w, out + at, d, eps);
    }
  });
}

void CpuRmsNorm::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw Error("PensieveCpuRmsNorm runs on the CPU only");
}

bool CpuRmsNorm::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const CpuRmsNorm&>(other);
  return eps_ == o.eps_ && residual_ == o.residual_;
}

std::vector<mx::Shape> CpuRmsNorm::output_shapes(const std::vector<mx::array>& inputs) {
  if (residual_) return {inputs[0].shape(), inputs[0].shape()};
  return {inputs[0].shape()};
}

}  // namespace pensieve::kernels
