#pragma once
// Reading an MLX array that may be a view (a slice, a transpose, a broadcast) from inside a CPU
// primitive. Asking for mx::contiguous in the graph would cost a node on every call, even when
// the array is dense already, and per-node cost is what a one-token decode step pays.
#include <cstddef>
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::kernels {

// The elements of `a` in row-major order: a's own data when it is row-contiguous, otherwise a
// dense copy held by `storage` (which must outlive the pointer's use). Call it from inside the
// task a primitive dispatches: only then have a's values been computed (its shape, strides and
// flags are known when the primitive is encoded).
const void* dense_data(const mlx::core::array& a, std::vector<std::byte>& storage);

inline const float* dense_floats(const mlx::core::array& a, std::vector<std::byte>& storage) {
  return static_cast<const float*>(dense_data(a, storage));
}

}  // namespace pensieve::kernels
