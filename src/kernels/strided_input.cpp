#include "kernels/strided_input.h"

#include <cstdint>
#include <cstring>

namespace pensieve::kernels {

const void* dense_data(const mlx::core::array& a, std::vector<std::byte>& storage) {
  if (a.flags().row_contiguous) return a.data<void>();
  const std::size_t item = a.itemsize();
  storage.resize(a.size() * item);
  const auto* src = static_cast<const std::byte*>(a.data<void>());
  const int nd = static_cast<int>(a.ndim());
  const auto& strides = a.strides();
  std::vector<int> index(static_cast<std::size_t>(nd), 0);
  std::int64_t at = 0;  // element offset of `index` in a's data
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::memcpy(storage.data() + i * item, src + at * static_cast<std::int64_t>(item), item);
    // Odometer increment over the shape, last axis fastest.
    for (int d = nd - 1; d >= 0; --d) {
      const auto du = static_cast<std::size_t>(d);
      if (++index[du] < a.shape(d)) {
        at += static_cast<std::int64_t>(strides[du]);
        break;
      }
      at -= static_cast<std::int64_t>(strides[du]) * (a.shape(d) - 1);
      index[du] = 0;
    }
  }
  return storage.data();
}

}  // namespace pensieve::kernels
