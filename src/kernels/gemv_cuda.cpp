#include "kernels/gemv_cuda.h"

#include <cstdlib>
#include <string_view>

#include <mlx/backend/cuda/cuda.h>
#include <mlx/fast.h>

#include "kernels/cuda_gemv_source.h"

namespace pensieve::kernels {
namespace mx = mlx::core;

namespace {

// float16 activations (the GPU's default): the GEMV of kernels/cuda_gemv_source.h (half2
// dequantization; the float kernel below spends two quarter-rate conversions a weight, which
// bounds it near a third of the memory bandwidth). Template arguments: K, R (rows a warp), SWIGLU.
constexpr const char* kHalfSource = R"(
  ::gemv<K, R, SWIGLU, false>(reinterpret_cast<const h16*>(x), reinterpret_cast<const uint4*>(w),
                              reinterpret_cast<const h16*>(scales), reinterpret_cast<const h16*>(biases),
                              reinterpret_cast<h16*>(y));
)";

// Any float dtype (bfloat16 weights): one warp per output row. Lane l loads the row's 16-byte
// chunks l, l+32, ... (32 weights each, half of a 64-weight group) before using any, so each warp
// has K/1024 loads in flight; the dot products run in float32 and the warp sums its lanes.
constexpr const char* kFloatSource = R"(
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

enum class Mode { off, float_kernel, half_kernel };

// PENSIEVE_CUDA_GEMV=0 turns the kernels off (MLX's op), =float keeps float16 on the float kernel
// (for comparisons); otherwise float16 takes the half kernel.
Mode mode() {
  static const Mode m = [] {
    if (!mx::cu::is_available()) return Mode::off;
    const char* v = std::getenv("PENSIEVE_CUDA_GEMV");
    if (v && std::string_view(v) == "0") return Mode::off;
    if (v && std::string_view(v) == "float") return Mode::float_kernel;
    return Mode::half_kernel;
  }();
  return m;
}

const mx::fast::CustomKernelFunction& float_kernel() {
  static const auto k = mx::fast::cuda_kernel("pensieve_gemv_q4", {"x", "w", "scales", "biases"}, {"y"}, kFloatSource);
  return k;
}

const mx::fast::CustomKernelFunction& half_kernel() {
  static const auto k =
      mx::fast::cuda_kernel("pensieve_gemv_q4_half", {"x", "w", "scales", "biases"}, {"y"}, kHalfSource, kCudaGemvSource);
  return k;
}

// The weight's format and the device; x's shape is the caller's.
bool takes(const mx::array& w, const mx::array& scales, const mx::array& biases, mx::Dtype dtype, int group_size,
           int bits) {
  if (mode() == Mode::off || bits != 4 || group_size != 64 || mx::default_device() != mx::Device::gpu) return false;
  if (dtype != mx::float16 && dtype != mx::bfloat16) return false;
  return w.dtype() == mx::uint32 && w.ndim() == 2 && scales.dtype() == dtype && biases.dtype() == dtype &&
         (w.shape(1) * 8) % 1024 == 0 && w.shape(0) % 8 == 0;
}

// x goes in and y comes out in the caller's shapes: a reshape on either side would be two more
// graph nodes a call, and a decode step on MLX's CUDA backend is bound by the host's per-node
// work (bench/gpu/README.md, fourth round).
mx::array run_half(const mx::array& x, const mx::Shape& out_shape, const mx::array& w, const mx::array& scales,
                   const mx::array& biases, bool swiglu) {
  const int N = w.shape(0), K = w.shape(1) * 8, R = gemv_rows_per_warp(N);
  return half_kernel()({x, w, scales, biases}, {out_shape}, {mx::float16}, {N / R * 32, 1, 1}, {kGemvThreads, 1, 1},
                       {{"K", K}, {"R", R}, {"SWIGLU", swiglu}}, std::nullopt, false, {})[0];
}

}  // namespace

std::optional<mx::array> cuda_gemv_q4(const mx::array& x, const mx::array& w, const mx::array& scales,
                                      const mx::array& biases, int group_size, int bits) {
  if (!takes(w, scales, biases, x.dtype(), group_size, bits)) return std::nullopt;
  const int N = w.shape(0), K = w.shape(1) * 8;
  if (x.ndim() < 1 || x.shape(-1) != K || static_cast<int>(x.size()) != K) return std::nullopt;
  auto out_shape = x.shape();
  out_shape.back() = N;
  // The half kernel reads x 16 bytes at a time.
  if (x.dtype() == mx::float16 && mode() == Mode::half_kernel && x.offset() % 16 == 0)
    return run_half(x, out_shape, w, scales, biases, false);
  return float_kernel()({x, w, scales, biases}, {out_shape}, {x.dtype()}, {N * 32, 1, 1}, {256, 1, 1},
                        {{"K", K}, {"T", x.dtype()}}, std::nullopt, false, {})[0];
}

std::optional<mx::array> cuda_gemv_q4_swiglu(const mx::array& gate_up, const mx::array& w, const mx::array& scales,
                                             const mx::array& biases, int group_size, int bits) {
  if (mode() != Mode::half_kernel || gate_up.dtype() != mx::float16 || gate_up.offset() % 16 != 0 ||
      !takes(w, scales, biases, gate_up.dtype(), group_size, bits))
    return std::nullopt;
  const int N = w.shape(0), K = w.shape(1) * 8;
  if (gate_up.ndim() < 1 || gate_up.shape(-1) != 2 * K || static_cast<int>(gate_up.size()) != 2 * K)
    return std::nullopt;
  auto out_shape = gate_up.shape();
  out_shape.back() = N;
  return run_half(gate_up, out_shape, w, scales, biases, true);
}

}  // namespace pensieve::kernels
