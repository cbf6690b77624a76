#include "kernels/strided_input.h"

#include <cstddef>
#include <cstdint>

namespace pensieve::kernels {

const float* dense_floats(const mlx::core::array& a, std::vector<float>& storage) {
  if (a.flags().row_contiguous) return a.data<float>();
  storage.resize(a.size());
  const float* src = a.data<float>();
  const int nd = static_cast<int>(a.ndim());
  const auto& strides = a.strides();
  std::vector<int> index(static_cast<std::size_t>(nd), 0);
  std::int64_t at = 0;  // element offset of `index` in a's data
  for (std::size_t i = 0; i < a.size(); ++i) {
    storage[i] = src[at];
    // Odometer increment over the shape, last axis fastest.
    for (int d = nd - 1; d >= 0; --d) {
      if (++index[static_cast<std::size_t>(d)] < a.shape(d)) {
        at += static_cast<std::int64_t>(strides[static_cast<std::size_t>(d)]);
        break;
      }
      at -= static_cast<std::int64_t>(strides[static_cast<std::size_t>(d)]) * (a.shape(d) - 1);
      index[static_cast<std::size_t>(d)] = 0;
    }
  }
  return storage.data();
}

}  // namespace pensieve::kernels
