#include "kernels/rope_primitive.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <mlx/backend/cpu/encoder.h>

#include "common/error.h"
#include "kernels/rope_rows.h"

namespace pensieve::kernels {

namespace {

struct RopeTask {
  const float* x;
  std::int64_t stride[4];  // of x, in elements
  float* out;
  int shape[4];            // B, heads, L, head_dim
  int dims;
  float attention_factor;
  std::vector<float> cos_sin;  // [L][dims/2][2]
};

void rotate(const RopeTask& t) {
  const int half = t.dims / 2;
  const int hd = t.shape[3];
  float* out = t.out;
  for (int b = 0; b < t.shape[0]; ++b)
    for (int h = 0; h < t.shape[1]; ++h)
      for (int l = 0; l < t.shape[2]; ++l, out += hd) {
        const float* row = t.x + b * t.stride[0] + h * t.stride[1] + l * t.stride[2];
        rotate_row(row, t.stride[3], t.cos_sin.data() + static_cast<std::size_t>(l) * half * 2, t.dims, hd,
                   t.attention_factor, out);
      }
}

}  // namespace

std::vector<float> rope_cos_sin(int dims, const std::vector<float>& divisors, float position_scale, int offset,
                                int rows) {
  const int half = dims / 2;
  std::vector<float> cs(static_cast<std::size_t>(rows) * half * 2);
  for (int l = 0; l < rows; ++l)
    for (int i = 0; i < half; ++i) {
      const double angle = static_cast<double>(offset + l) * position_scale / divisors[static_cast<std::size_t>(i)];
      const std::size_t at = (static_cast<std::size_t>(l) * half + i) * 2;
      cs[at] = static_cast<float>(std::cos(angle));
      cs[at + 1] = static_cast<float>(std::sin(angle));
    }
  return cs;
}

void CpuRope::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const mx::array& x = inputs[0];
  if (x.ndim() != 4 || x.dtype() != mx::float32) throw Error("PensieveCpuRope: x must be float32 [B, heads, L, head_dim]");
  out.set_data(mx::allocator::malloc(out.nbytes()));
  RopeTask t;
  t.x = x.data<float>();
  t.out = out.data<float>();
  for (int d = 0; d < 4; ++d) {
    t.shape[d] = x.shape(d);
    t.stride[d] = static_cast<std::int64_t>(x.strides()[static_cast<std::size_t>(d)]);
  }
  t.dims = dims_;
  t.attention_factor = attention_factor_;
  t.cos_sin = rope_cos_sin(dims_, divisors_, position_scale_, offset_, t.shape[2]);

  auto& encoder = mx::cpu::get_command_encoder(stream());
  encoder.set_input_array(x);
  encoder.set_output_array(out);
  encoder.dispatch([t = std::move(t)]() { rotate(t); });
}

void CpuRope::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw Error("PensieveCpuRope runs on the CPU only");
}

bool CpuRope::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const CpuRope&>(other);
  return dims_ == o.dims_ && divisors_ == o.divisors_ && position_scale_ == o.position_scale_ &&
         attention_factor_ == o.attention_factor_ && offset_ == o.offset_;
}

std::vector<mx::Shape> CpuRope::output_shapes(const std::vector<mx::array>& inputs) { return {inputs[0].shape()}; }

}  // namespace pensieve::kernels
