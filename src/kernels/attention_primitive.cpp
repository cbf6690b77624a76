#include "kernels/attention_primitive.h"

#include <mlx/backend/cpu/encoder.h>

#include "common/error.h"
#include "kernels/strided_input.h"

namespace pensieve::kernels {

namespace {

// Points the problem's q and per-sequence keys/values at `data` (one pointer per input, in the
// primitive's input order).
void point_at(AttentionProblem& p, const std::vector<const void*>& data, int bits) {
  p.q = static_cast<const float*>(data[0]);
  const std::size_t per_sequence = bits == 0 ? 2 : 6;
  for (std::size_t b = 0; b < p.sequences.size(); ++b) {
    const void* const* a = &data[1 + b * per_sequence];
    AttentionSequence& s = p.sequences[b];
    if (bits == 0) {
      s.keys.data = a[0];
      s.values.data = a[1];
    } else {
      s.keys.data = a[0];
      s.keys.scales = a[1];
      s.keys.biases = a[2];
      s.values.data = a[3];
      s.values.scales = a[4];
      s.values.biases = a[5];
    }
  }
}

}  // namespace

void CpuAttention::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const mx::array& q = inputs[0];
  out.set_data(mx::allocator::malloc(out.nbytes()));

  AttentionProblem p;
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
  else p.kv_f16 = inputs[1].dtype() == mx::float16;
  for (int b = 0; b < p.batch; ++b) {
    const mx::array& keys = inputs[1 + static_cast<std::size_t>(b) * per_sequence];
    AttentionSequence s;
    s.length = lengths_[static_cast<std::size_t>(b)];
    s.offset = s.length - p.queries;
    s.keys.head_stride = keys.shape(2);
    s.values.head_stride = keys.shape(2);
    p.sequences.push_back(s);
  }
  std::vector<const void*> data;
  std::vector<mx::array> views;  // inputs that are not row-contiguous: read densely in the task
  std::vector<std::size_t> view_at;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    data.push_back(inputs[i].data<void>());
    if (!inputs[i].flags().row_contiguous) {
      views.push_back(mx::array::unsafe_weak_copy(inputs[i]));
      view_at.push_back(i);
    }
  }

  // Queued on the stream's thread in graph order, like MLX's own CPU ops; the encoder keeps the
  // input buffers alive until it has run. Views (q from a transpose, say) are copied densely
  // there rather than through contiguous nodes in the graph (the cache's buffers are dense).
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  encoder.dispatch([p = std::move(p), data = std::move(data), views = std::move(views),
                    view_at = std::move(view_at), bits = bits_]() mutable {
    std::vector<std::vector<std::byte>> copies(views.size());
    for (std::size_t v = 0; v < views.size(); ++v) data[view_at[v]] = dense_data(views[v], copies[v]);
    point_at(p, data, bits);
    attention_cpu(p);
  });
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
