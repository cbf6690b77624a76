#include "kernels/attention_primitive.h"

#include <mlx/backend/cpu/encoder.h>

#include "common/error.h"

namespace pensieve::kernels {

void CpuAttention::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const mx::array& q = inputs[0];
  for (const auto& in : inputs)
    if (!in.flags().row_contiguous) throw Error("PensieveCpuAttention: inputs must be contiguous");
  out.set_data(mx::allocator::malloc(out.nbytes()));

  AttentionProblem p;
  p.q = q.data<float>();
  p.out = out.data<float>();
  p.batch = q.shape(0);
  p.heads = q.shape(1);
  p.kv_heads = kv_heads_;
  p.queries = q.shape(2);
  p.head_dim = q.shape(3);
  p.scale = scale_;
  p.bits = bits_;
  p.group_size = group_size_;
  const int per_sequence = bits_ == 0 ? 2 : 6;
  if (bits_ > 0) p.scales_f16 = inputs[2].dtype() == mx::float16;
  for (int b = 0; b < p.batch; ++b) {
    const mx::array* a = &inputs[1 + static_cast<std::size_t>(b) * per_sequence];
    AttentionSequence s;
    s.length = lengths_[static_cast<std::size_t>(b)];
    s.offset = s.length - p.queries;
    auto rows = [&](const mx::array& data, const mx::array* scales, const mx::array* biases) {
      KvRows r;
      r.data = data.data<void>();
      r.scales = scales ? scales->data<void>() : nullptr;
      r.biases = biases ? biases->data<void>() : nullptr;
      r.head_stride = data.shape(2);
      return r;
    };
    if (bits_ == 0) {
      s.keys = rows(a[0], nullptr, nullptr);
      s.values = rows(a[1], nullptr, nullptr);
    } else {
      s.keys = rows(a[0], &a[1], &a[2]);
      s.values = rows(a[3], &a[4], &a[5]);
    }
    p.sequences.push_back(s);
  }

  // Queued on the stream's thread in graph order, like MLX's own CPU ops; the encoder keeps the
  // input buffers alive until it has run.
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  encoder.dispatch([p = std::move(p)]() { attention_cpu(p); });
}

void CpuAttention::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw Error("PensieveCpuAttention runs on the CPU only");
}

bool CpuAttention::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const CpuAttention&>(other);
  return lengths_ == o.lengths_ && scale_ == o.scale_ && kv_heads_ == o.kv_heads_ && bits_ == o.bits_ &&
         group_size_ == o.group_size_;
}

std::vector<mx::Shape> CpuAttention::output_shapes(const std::vector<mx::array>& inputs) {
  const auto& q = inputs[0];
  return {{q.shape(0), q.shape(2), q.shape(1) * q.shape(3)}};
}

}  // namespace pensieve::kernels
