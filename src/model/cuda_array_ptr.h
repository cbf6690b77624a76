#pragma once
// The device address of an evaluated, row-contiguous MLX array on MLX's CUDA backend, for
// Pensieve's own kernels (model::CudaDecoder) to read and write it in place. MLX keeps a
// {data, size, device} record behind each buffer (mlx/backend/cuda/allocator.h: CudaBuffer);
// its data is device (or managed) memory and array::offset() is in bytes.
#include <cstddef>

#include <mlx/mlx.h>

#include "common/error.h"
#include "kernels/cuda_driver.h"

namespace pensieve::model {

inline kernels::cuda::DevicePtr cuda_array_ptr(const mlx::core::array& a) {
  struct MlxCudaBuffer {
    void* data;
    std::size_t size;
    int device;
  };
  if (!a.is_available() || !a.flags().row_contiguous) throw Error("CUDA decoder: an array is not ready in place");
  const auto* b = static_cast<const MlxCudaBuffer*>(const_cast<mlx::core::array&>(a).buffer().ptr());
  return reinterpret_cast<kernels::cuda::DevicePtr>(static_cast<char*>(b->data) + a.offset());
}

}  // namespace pensieve::model
