#include "kernels/linear.h"

#include "kernels/qmm_cpu.h"
#include "kernels/quantized_matmul_primitive.h"

namespace pensieve::kernels {

namespace {

bool is_float(mx::Dtype t) { return t == mx::float32 || t == mx::float16 || t == mx::bfloat16; }

// The weight format alone (no activation needed): used at load time too.
bool cpu_kernel_takes_weight(const LinearWeight& w) {
  return w.quantized() && w.biases && w.scales && w.weight.dtype() == mx::uint32 &&
         w.weight.ndim() == 2 && is_float(w.scales->dtype()) &&
         w.biases->dtype() == w.scales->dtype() &&
         qmm_supported(w.bits, w.group_size, w.in_features()) &&
         mx::default_device() == mx::Device::cpu;
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
    const int K = w.in_features();
    auto out_shape = x.shape();
    out_shape.back() = w.out_features();
    auto x2 = mx::reshape(x, {static_cast<int>(x.size() / K), K});
    if (x2.dtype() != mx::float32) x2 = mx::astype(x2, mx::float32);
    auto y = cpu_quantized_matmul(x2, w.weight, *w.scales, *w.biases, w.group_size, w.bits);
    y = mx::reshape(y, out_shape);
    return x.dtype() == mx::float32 ? y : mx::astype(y, x.dtype());
  }
  // MLX's op wants scales and biases in x's dtype; weights prepared for the CPU kernel may have
  // kept theirs (with_float_dtype).
  auto scales = *w.scales;
  std::optional<mx::array> biases = w.biases;
  if (scales.dtype() != x.dtype()) scales = mx::astype(scales, x.dtype());
  if (biases && biases->dtype() != x.dtype()) biases = mx::astype(*biases, x.dtype());
  return mx::quantized_matmul(x, w.weight, scales, biases, /*transpose=*/true, w.group_size, w.bits,
                              "affine");
}

mx::array embedding_rows(const mx::array& ids, const LinearWeight& w, mx::Dtype dtype) {
  if (!w.quantized()) return mx::astype(mx::take(w.weight, ids, 0), dtype);
  auto rows = mx::take(w.weight, ids, 0);
  auto scales = mx::take(*w.scales, ids, 0);
  std::optional<mx::array> biases;
  if (w.biases) biases = mx::take(*w.biases, ids, 0);
  return mx::astype(mx::dequantize(rows, scales, biases, w.group_size, w.bits, "affine"), dtype);
}

LinearWeight with_float_dtype(const LinearWeight& w, mx::Dtype dtype) {
  LinearWeight out = w;
  if (!w.quantized()) {
    out.weight = mx::astype(w.weight, dtype);
  } else if (!(dtype == mx::float32 && cpu_kernel_takes_weight(w))) {
    out.scales = mx::astype(*w.scales, dtype);
    if (w.biases) out.biases = mx::astype(*w.biases, dtype);
  }
  return out;
}

}  // namespace pensieve::kernels
