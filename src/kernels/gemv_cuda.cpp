#include "kernels/gemv_cuda.h"

#include <cstdlib>
#include <string_view>

#include <mlx/backend/cuda/cuda.h>
#include <mlx/fast.h>

namespace pensieve::kernels {
namespace mx = mlx::core;

namespace {

// float16 activations (the GPU's default). Per weight, the float kernel below spends two
// conversions (nibble → float, half → float), which run at a quarter of the arithmetic rate:
// that bounds it near a third of the memory bandwidth. Here nibbles become halves by OR-ing
// them into the mantissa of 1024.0 (0x6400) and subtracting 1024 (the high nibble of a byte
// sits four bits up: ×1/16 − 64 instead), two half2 operations for two weights, and the products
// run as half2 FMAs: 4 products a lane summed in half, then in float, so no partial sum nears
// half's range. x is staged once a block in shared memory, pre-paired to match the nibble order
// (n0,n4), (n1,n5), (n2,n6), (n3,n7) of a packed word, with its sum per 32 weights (for the
// biases). With SWIGLU, x = silu(gate) · up is computed while staging, from gate_up = [gate, up].
// Template arguments: K (in features), R (rows a warp), SWIGLU.
constexpr const char* kHalfHeader = R"(
__device__ __forceinline__ __half2 pensieve_bits_h2(uint32_t v) {
  return *reinterpret_cast<__half2*>(&v);
}
__device__ __forceinline__ uint32_t pensieve_h2_bits(__half2 h) {
  return *reinterpret_cast<uint32_t*>(&h);
}
__device__ __forceinline__ float pensieve_word_dot(uint32_t q, const uint4& xv) {
  const __half2 k1024 = __float2half2_rn(1024.0f);
  const __half2 k16th = __float2half2_rn(0.0625f);
  const __half2 k64 = __float2half2_rn(-64.0f);
  const uint32_t q8 = q >> 8;
  const __half2 n04 = __hsub2(pensieve_bits_h2((q & 0x000F000Fu) | 0x64006400u), k1024);
  const __half2 n15 = __hfma2(pensieve_bits_h2((q & 0x00F000F0u) | 0x64006400u), k16th, k64);
  const __half2 n26 = __hsub2(pensieve_bits_h2((q8 & 0x000F000Fu) | 0x64006400u), k1024);
  const __half2 n37 = __hfma2(pensieve_bits_h2((q8 & 0x00F000F0u) | 0x64006400u), k16th, k64);
  __half2 acc = __hmul2(n04, pensieve_bits_h2(xv.x));
  acc = __hfma2(n15, pensieve_bits_h2(xv.y), acc);
  acc = __hfma2(n26, pensieve_bits_h2(xv.z), acc);
  acc = __hfma2(n37, pensieve_bits_h2(xv.w), acc);
  const float2 f = __half22float2(acc);
  return f.x + f.y;
}
)";

constexpr const char* kHalfSource = R"(
  constexpr int CH = K / 1024;        // 16-byte chunks (32 weights) a lane
  constexpr int WARPS = 8;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int row0 = (blockIdx.x * WARPS + warp) * R;
  // Weights, scales and biases first: their loads are in flight while x is staged.
  uint4 q[R][CH];
  __half s[R][CH], bz[R][CH];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const uint4* wrow = reinterpret_cast<const uint4*>(w) + static_cast<size_t>(row0 + r) * (K / 32);
    const __half* srow = scales + static_cast<size_t>(row0 + r) * (K / 64);
    const __half* brow = biases + static_cast<size_t>(row0 + r) * (K / 64);
#pragma unroll
    for (int i = 0; i < CH; ++i) {
      q[r][i] = __ldcs(wrow + lane + 32 * i);
      s[r][i] = srow[(lane + 32 * i) >> 1];
      bz[r][i] = brow[(lane + 32 * i) >> 1];
    }
  }
  // x as xs[j][c]: word j (0..3) of chunk c, so that a warp's lanes read consecutive 16 bytes.
  __shared__ uint4 xs[4][K / 32];
  __shared__ float xsum[K / 32];
  for (int word = threadIdx.x; word < K / 8; word += WARPS * 32) {
    float v[8];
    if (SWIGLU) {
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const float g = __half2float(x[8 * word + k]);
        const float u = __half2float(x[K + 8 * word + k]);
        v[k] = __half2float(__float2half_rn(g / (1.0f + __expf(-g)) * u));
      }
    } else if ((reinterpret_cast<size_t>(x) & 15) == 0) {
      const uint4 raw = reinterpret_cast<const uint4*>(x)[word];
      const __half* hv = reinterpret_cast<const __half*>(&raw);
#pragma unroll
      for (int k = 0; k < 8; ++k) v[k] = __half2float(hv[k]);
    } else {
#pragma unroll
      for (int k = 0; k < 8; ++k) v[k] = __half2float(x[8 * word + k]);
    }
    uint4 paired;
    paired.x = pensieve_h2_bits(__floats2half2_rn(v[0], v[4]));
    paired.y = pensieve_h2_bits(__floats2half2_rn(v[1], v[5]));
    paired.z = pensieve_h2_bits(__floats2half2_rn(v[2], v[6]));
    paired.w = pensieve_h2_bits(__floats2half2_rn(v[3], v[7]));
    xs[word & 3][word >> 2] = paired;
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) sum += v[k];
    // The four words of a chunk sit on four neighbouring lanes (K / 8 is a multiple of 32, so
    // whole warps take part).
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if ((word & 3) == 0) xsum[word >> 2] = sum;
  }
  __syncthreads();
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
#pragma unroll
  for (int i = 0; i < CH; ++i) {
    const int c = lane + 32 * i;
    const uint4 x0 = xs[0][c], x1 = xs[1][c], x2 = xs[2][c], x3 = xs[3][c];
    const float total = xsum[c];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float dot = pensieve_word_dot(q[r][i].x, x0) + pensieve_word_dot(q[r][i].y, x1) +
                        pensieve_word_dot(q[r][i].z, x2) + pensieve_word_dot(q[r][i].w, x3);
      acc[r] += __half2float(s[r][i]) * dot + __half2float(bz[r][i]) * total;
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
  }
  if (lane < R) {
    float mine = acc[0];
#pragma unroll
    for (int r = 1; r < R; ++r)
      if (lane == r) mine = acc[r];
    y[row0 + lane] = __float2half_rn(mine);
  }
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
      mx::fast::cuda_kernel("pensieve_gemv_q4_half", {"x", "w", "scales", "biases"}, {"y"}, kHalfSource, kHalfHeader);
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

// Two rows a warp where there are enough rows to fill the GPU (x staged half as often).
int rows_per_warp(int N) { return N >= 8192 && N % 16 == 0 ? 2 : 1; }

// x goes in and y comes out in the caller's shapes: a reshape on either side would be two more
// graph nodes a call, and a decode step on MLX's CUDA backend is bound by the host's per-node
// work (bench/gpu/README.md, fourth round).
mx::array run_half(const mx::array& x, const mx::Shape& out_shape, const mx::array& w, const mx::array& scales,
                   const mx::array& biases, bool swiglu) {
  const int N = w.shape(0), K = w.shape(1) * 8, R = rows_per_warp(N);
  return half_kernel()({x, w, scales, biases}, {out_shape}, {mx::float16}, {N / R * 32, 1, 1}, {256, 1, 1},
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
  if (x.dtype() == mx::float16 && mode() == Mode::half_kernel) return run_half(x, out_shape, w, scales, biases, false);
  return float_kernel()({x, w, scales, biases}, {out_shape}, {x.dtype()}, {N * 32, 1, 1}, {256, 1, 1},
                        {{"K", K}, {"T", x.dtype()}}, std::nullopt, false, {})[0];
}

std::optional<mx::array> cuda_gemv_q4_swiglu(const mx::array& gate_up, const mx::array& w, const mx::array& scales,
                                             const mx::array& biases, int group_size, int bits) {
  if (mode() != Mode::half_kernel || gate_up.dtype() != mx::float16 ||
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
