#include "kernels/linear.h"


#include "kernels/cpu_dispatch.h"
#include "kernels/cpu_layout.h"
#include "kernels/embedding_primitive.h"
#include "kernels/gemv_cuda.h"
#include "kernels/qmm_cpu.h"
#include "kernels/quantized_matmul_primitive.h"

namespace pensieve::kernels {

namespace {

bool is_float(mx::Dtype t) { return t == mx::float32 || t == mx::float16 || t == mx::bfloat16; }

// The weight format alone (no activation needed): used at load time too.
bool cpu_kernel_takes_weight(const LinearWeight& w) {
  return cpu_kernels_enabled() && w.quantized() && w.biases && w.scales && w.weight.dtype() == mx::uint32 &&
         w.weight.ndim() == 2 && is_float(w.scales->dtype()) &&
         w.biases->dtype() == w.scales->dtype() &&
         qmm_supported(w.bits, w.group_size, w.in_features()) &&
         (w.layout == WeightLayout::rows || tiled_layout_supported()) &&
         mx::default_device() == mx::Device::cpu;
}

// The weight in MLX's layout, for MLX's own ops (lazy; costly per step, so only for fallbacks).
LinearWeight in_mlx_layout(const LinearWeight& w) {
  if (w.layout == WeightLayout::rows) return w;
  LinearWeight out = w;
  out.weight = from_tiled16(w.weight);
  out.scales = from_tiled16(*w.scales);
  if (w.biases) out.biases = from_tiled16(*w.biases);
  out.layout = WeightLayout::rows;
  return out;
}

}  // namespace

bool uses_cpu_kernel(const mx::array& x, const LinearWeight& w) {
  return cpu_kernel_takes_weight(w) && is_float(x.dtype()) && x.ndim() >= 1 &&
         x.shape(-1) == w.in_features();
}

mx::array linear(const mx::array& x, const LinearWeight& w) {
  if (!w.quantized()) return mx::matmul(x, mx::transpose(w.weight));
  if (uses_cpu_kernel(x, w)) {
    // MLX's CPU quantized matmul is a scalar loop (and float16 is emulated): ours quantizes the
    // activations to int8 and runs SIMD integer dot products on a thread pool, in float32.
    auto y = cpu_quantized_matmul(x.dtype() == mx::float32 ? x : mx::astype(x, mx::float32), w.weight,
                                  *w.scales, *w.biases, w.group_size, w.bits, w.layout);
    return x.dtype() == mx::float32 ? y : mx::astype(y, x.dtype());
  }
  // MLX's op wants MLX's layout and scales and biases in x's dtype; weights prepared for the CPU
  // kernel may have neither (with_float_dtype).
  const LinearWeight m = in_mlx_layout(w);
  auto scales = *m.scales;
  std::optional<mx::array> biases = m.biases;
  if (scales.dtype() != x.dtype()) scales = mx::astype(scales, x.dtype());
  if (biases && biases->dtype() != x.dtype()) biases = mx::astype(*biases, x.dtype());
  if (biases)
    if (auto y = cuda_gemv_q4(x, m.weight, scales, *biases, w.group_size, w.bits)) return *y;
  // Rows as one matrix: given [B, 1, K] (a batched decode step), MLX's op runs a matrix-vector
  // product per leading index, reading the whole weight once per sequence.
  if (x.ndim() > 2) {
    auto shape = x.shape();
    shape.back() = m.out_features();
    auto y = mx::quantized_matmul(mx::reshape(x, {-1, x.shape(-1)}), m.weight, scales, biases, /*transpose=*/true,
                                  w.group_size, w.bits, "affine");
    return mx::reshape(y, shape);
  }
  return mx::quantized_matmul(x, m.weight, scales, biases, /*transpose=*/true, w.group_size, w.bits,
                              "affine");
}

mx::array linear_swiglu(const mx::array& gate_up, const LinearWeight& w) {
  const int K = w.in_features();
  if (gate_up.ndim() >= 1 && gate_up.shape(-1) == 2 * K && gate_up.dtype() == mx::float32 &&
      cpu_kernel_takes_weight(w)) {
    return cpu_quantized_matmul(gate_up, w.weight, *w.scales, *w.biases, w.group_size, w.bits, w.layout,
                                best_qmm_isa(), InputOp::swiglu);
  }
  if (w.quantized() && w.scales && w.biases && w.layout == WeightLayout::rows)
    if (auto y = cuda_gemv_q4_swiglu(gate_up, w.weight, *w.scales, *w.biases, w.group_size, w.bits)) return *y;
  auto halves = mx::split(gate_up, 2, -1);
  if (mx::default_device() == mx::Device::gpu) {
    // One fused kernel instead of three (sigmoid, two multiplies): on a GPU each is a launch of a
    // few microseconds, 64 a decode step. (Not on the CPU: MLX compiles fused CPU code with the
    // system compiler at run time.)
    static const auto fused = mx::compile(
        [](const std::vector<mx::array>& in) {
          return std::vector<mx::array>{mx::multiply(mx::multiply(in[0], mx::sigmoid(in[0])), in[1])};
        },
        /*shapeless=*/true);
    return linear(fused({halves[0], halves[1]})[0], w);
  }
  return linear(mx::multiply(mx::multiply(halves[0], mx::sigmoid(halves[0])), halves[1]), w);
}

mx::array embedding_rows(const mx::array& ids, const LinearWeight& w, mx::Dtype dtype) {
  if (!w.quantized()) return mx::astype(mx::take(w.weight, ids, 0), dtype);
  if (w.layout == WeightLayout::tiled16) {
    if (dtype == mx::float32 && w.biases && (w.bits == 4 || w.bits == 8) && w.scales->dtype() == mx::float16 &&
        w.biases->dtype() == mx::float16 && cpu_kernels_here()) {
      auto shape = ids.shape();
      shape.push_back(w.in_features());
      return mx::array(std::move(shape), mx::float32,
                       std::make_shared<CpuEmbedRows>(mx::default_stream(mx::Device::cpu), w.bits, w.group_size),
                       {mx::astype(ids, mx::int32), w.weight, *w.scales, *w.biases});
    }
    std::optional<mx::array> biases;
    if (w.biases) biases = take_tiled16_rows(*w.biases, ids);
    return mx::astype(mx::dequantize(take_tiled16_rows(w.weight, ids),
                                     take_tiled16_rows(*w.scales, ids), biases, w.group_size,
                                     w.bits, "affine"),
                      dtype);
  }
  auto rows = mx::take(w.weight, ids, 0);
  auto scales = mx::take(*w.scales, ids, 0);
  std::optional<mx::array> biases;
  if (w.biases) biases = mx::take(*w.biases, ids, 0);
  return mx::astype(mx::dequantize(rows, scales, biases, w.group_size, w.bits, "affine"), dtype);
}

bool repacks_to_tiled16(const LinearWeight& w, mx::Dtype dtype) {
  return w.quantized() && dtype == mx::float32 && cpu_kernel_takes_weight(w) &&
         w.layout == WeightLayout::rows && tiled_layout_supported() &&
         w.out_features() % kTileRows == 0;
}

LinearWeight with_float_dtype(const LinearWeight& w, mx::Dtype dtype) {
  LinearWeight out = w;
  if (!w.quantized()) {
    out.weight = mx::astype(w.weight, dtype);
  } else if (!(dtype == mx::float32 && cpu_kernel_takes_weight(w))) {
    out = in_mlx_layout(w);
    out.scales = mx::astype(*out.scales, dtype);
    if (out.biases) out.biases = mx::astype(*out.biases, dtype);
  } else if (repacks_to_tiled16(w, dtype)) {
    out.weight = to_tiled16(w.weight);
    out.scales = to_tiled16(*w.scales);
    out.biases = to_tiled16(*w.biases);
    out.layout = WeightLayout::tiled16;
  }
  return out;
}

}  // namespace pensieve::kernels
