#include "kernels/linear.h"

namespace pensieve::kernels {

mx::array linear(const mx::array& x, const LinearWeight& w) {
  if (!w.quantized()) return mx::matmul(x, mx::transpose(w.weight));
  return mx::quantized_matmul(x, w.weight, *w.scales, w.biases, /*transpose=*/true, w.group_size,
                              w.bits, "affine");
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
  } else {
    out.scales = mx::astype(*w.scales, dtype);
    if (w.biases) out.biases = mx::astype(*w.biases, dtype);
  }
  return out;
}

}  // namespace pensieve::kernels
