#include "kernels/quantized_matmul_primitive.h"

#include <mlx/backend/cpu/encoder.h>

#include <string>

#include "common/error.h"
#include "kernels/strided_input.h"

namespace pensieve::kernels {

namespace {

ScaleType scale_type_of(mx::Dtype t) {
  if (t == mx::float32) return ScaleType::f32;
  if (t == mx::float16) return ScaleType::f16;
  if (t == mx::bfloat16) return ScaleType::bf16;
  throw Error("cpu_quantized_matmul: scales must be float32, float16 or bfloat16");
}

void require(bool ok, const char* what) {
  if (!ok) throw Error(std::string("cpu_quantized_matmul: ") + what);
}

}  // namespace

void CpuQuantizedMatmul::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const mx::array& x = inputs[0];
  const mx::array& w = inputs[1];
  const mx::array& scales = inputs[2];
  const mx::array& biases = inputs[3];
  // The weights are loaded contiguous; the kernel reads their raw rows.
  for (std::size_t i = 1; i < inputs.size(); ++i) require(inputs[i].flags().row_contiguous, "weights must be contiguous");
  out.set_data(mx::allocator::malloc(out.nbytes()));

  QmmProblem p;
  p.x = x.data<float>();
  p.w = reinterpret_cast<const uint8_t*>(w.data<uint32_t>());
  p.scales = scales.data<void>();
  p.biases = biases.data<void>();
  p.scale_type = scale_type_of(scales.dtype());
  p.y = out.data<float>();
  const int width = x.shape(-1);
  p.M = static_cast<int>(x.size() / static_cast<std::size_t>(width));
  p.input_op = input_op_;
  p.K = input_op_ == InputOp::swiglu ? width / 2 : width;
  p.N = w.shape(0);
  p.layout = layout_;
  p.bits = bits_;
  p.group_size = group_size_;

  // Like MLX's own CPU ops: the work is queued on the stream's thread, in graph order. The
  // input buffers stay alive until it has run (MLX's CPU eval holds them for the stream). A
  // view x is read densely inside the task: a contiguous node in the graph would cost every
  // call a node, dense or not.
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  if (x.flags().row_contiguous) {
    encoder.dispatch([p, isa = isa_]() { quantized_matmul_cpu(p, isa); });
    return;
  }
  encoder.dispatch([p, isa = isa_, view = mx::array::unsafe_weak_copy(x)]() mutable {
    std::vector<std::byte> dense;
    p.x = dense_floats(view, dense);
    quantized_matmul_cpu(p, isa);
  });
}

void CpuQuantizedMatmul::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw Error("PensieveCpuQuantizedMatmul runs on the CPU only");
}

bool CpuQuantizedMatmul::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const CpuQuantizedMatmul&>(other);
  return group_size_ == o.group_size_ && bits_ == o.bits_ && layout_ == o.layout_ && isa_ == o.isa_ &&
         input_op_ == o.input_op_;
}

std::vector<mx::Shape> CpuQuantizedMatmul::output_shapes(const std::vector<mx::array>& inputs) {
  auto shape = inputs[0].shape();
  shape.back() = inputs[1].shape(0);
  return {shape};
}

mx::array cpu_quantized_matmul(const mx::array& x, const mx::array& w, const mx::array& scales,
                               const mx::array& biases, int group_size, int bits,
                               WeightLayout layout, QmmIsa isa, InputOp input_op) {
  require(x.ndim() >= 1 && w.ndim() == 2 && scales.ndim() == 2 && biases.ndim() == 2,
          "w, scales and biases must be 2-D");
  require(x.dtype() == mx::float32, "x must be float32");
  require(w.dtype() == mx::uint32, "w must be uint32");
  require(scales.dtype() == biases.dtype(), "scales and biases must share a dtype");
  scale_type_of(scales.dtype());
  require(input_op == InputOp::none || x.shape(-1) % 2 == 0, "swiglu needs an even input width");
  const int K = input_op == InputOp::swiglu ? x.shape(-1) / 2 : x.shape(-1), N = w.shape(0);
  require(qmm_supported(bits, group_size, K), "unsupported bits, group size or K");
  require(static_cast<int64_t>(w.shape(1)) * 32 == static_cast<int64_t>(K) * bits,
          "w's packed width does not match K");
  require(scales.shape(0) == N && scales.shape(1) == K / group_size &&
              biases.shape() == scales.shape(),
          "scales/biases shape must be [N, K / group_size]");
  require(layout == WeightLayout::rows || (tiled_layout_supported() && N % kTileRows == 0),
          "tiled weights need AVX2 and N a multiple of 16");
  const mx::Stream s = mx::default_stream(mx::Device::cpu);
  // x goes in as it is (the node reads views itself); loaded weights are already contiguous:
  // no contiguous nodes in a decode step.
  std::vector<mx::array> inputs{x};
  for (const auto* a : {&w, &scales, &biases}) {
    const bool ready =
        a->status() != mx::array::Status::unscheduled && a->flags().row_contiguous;
    inputs.push_back(ready ? *a : mx::contiguous(*a, false, s));
  }
  auto out_shape = x.shape();
  out_shape.back() = N;
  return mx::array(std::move(out_shape), mx::float32,
                   std::make_shared<CpuQuantizedMatmul>(s, group_size, bits, layout, isa, input_op), std::move(inputs));
}

}  // namespace pensieve::kernels
