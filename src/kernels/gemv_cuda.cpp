#include "kernels/gemv_cuda.h"

#include <cstdlib>
#include <string_view>

#include <mlx/backend/cuda/cuda.h>
#include <mlx/fast.h>

namespace pensieve::kernels {
namespace mx = mlx::core;

namespace {

// One warp per output row. Lane l loads the row's 16-byte chunks l, l+32, ... (32 weights each,
// half of a 64-weight group) before using any, so each warp has K/1024 loads in flight; the dot
// products run in float32 and the warp sums its lanes. K is a compile-time constant.
constexpr const char* kSource = R"(
  constexpr int CHUNKS = K / 1024;
  const int lane = threadIdx.x & 31;
  const int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const uint4* wrow = reinterpret_cast<const uint4*>(w) + static_cast<size_t>(row) * (K / 32);
  uint4 q[CHUNKS];
#pragma unroll
  for (int i = 0; i < CHUNKS; ++i) q[i] = wrow[lane + 32 * i];
  const T* srow = scales + static_cast<size_t>(row) * (K / 64);
  const T* brow = biases + static_cast<size_t>(row) * (K / 64);
  const bool x_aligned = (reinterpret_cast<size_t>(x) & 15) == 0;
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < CHUNKS; ++i) {
    const int c = lane + 32 * i;
    const uint32_t words[4] = {q[i].x, q[i].y, q[i].z, q[i].w};
    float dot = 0.0f, xsum = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      alignas(16) T xs[8];
      if (x_aligned) {
        *reinterpret_cast<uint4*>(xs) = reinterpret_cast<const uint4*>(x + 32 * c)[j];
      } else {
#pragma unroll
        for (int k = 0; k < 8; ++k) xs[k] = x[32 * c + 8 * j + k];
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const float xf = static_cast<float>(xs[k]);
        dot += static_cast<float>((words[j] >> (4 * k)) & 0xFu) * xf;
        xsum += xf;
      }
    }
    acc += static_cast<float>(srow[c >> 1]) * dot + static_cast<float>(brow[c >> 1]) * xsum;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[row] = static_cast<T>(acc);
)";

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PENSIEVE_CUDA_GEMV");
    return !(v && std::string_view(v) == "0") && mx::cu::is_available();
  }();
  return on;
}

const mx::fast::CustomKernelFunction& kernel() {
  static const auto k = mx::fast::cuda_kernel("pensieve_gemv_q4", {"x", "w", "scales", "biases"}, {"y"}, kSource);
  return k;
}

}  // namespace

std::optional<mx::array> cuda_gemv_q4(const mx::array& x, const mx::array& w, const mx::array& scales,
                                      const mx::array& biases, int group_size, int bits) {
  if (!enabled() || bits != 4 || group_size != 64 || mx::default_device() != mx::Device::gpu) return std::nullopt;
  if (x.dtype() != mx::float16 && x.dtype() != mx::bfloat16) return std::nullopt;
  if (w.dtype() != mx::uint32 || w.ndim() != 2 || scales.dtype() != x.dtype() || biases.dtype() != x.dtype())
    return std::nullopt;
  const int N = w.shape(0), K = w.shape(1) * 8;
  if (x.ndim() < 1 || x.shape(-1) != K || static_cast<int>(x.size()) != K || K % 1024 != 0 || N % 8 != 0)
    return std::nullopt;
  auto out_shape = x.shape();
  out_shape.back() = N;
  auto y = kernel()({mx::reshape(x, {K}), w, scales, biases}, {{N}}, {x.dtype()}, {N * 32, 1, 1}, {256, 1, 1},
                    {{"K", K}, {"T", x.dtype()}}, std::nullopt, false, {});
  return mx::reshape(y[0], out_shape);
}

}  // namespace pensieve::kernels
