#include "kernels/attention_cuda.h"

#include <mutex>
#include <utility>
#include <vector>

#include <mlx/backend/cuda/cuda.h>

#include "common/env_switch.h"

namespace pensieve::kernels {

namespace {

constexpr int kWarps = 4;
constexpr int kMinBlocks = 1024;

// Template arguments: T (element type), D (head_dim, a multiple of 32), H, KVH (heads, KV heads),
// WARPS; the buffers' column count comes with the spans (a template argument would compile the
// kernel again each time the buffers grow). Lane l holds dimensions l, l+32, … of the query and of its
// accumulator; a warp sums its lanes' products for a key with shuffles. Four keys a turn, their
// loads issued before any is used, so each warp has several rows in flight.
constexpr const char* kSource = R"(
  constexpr int E = D / 32;
  constexpr int U = 4;
  const int b = blockIdx.x / H;
  const int h = blockIdx.x % H;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int kvh = h / (H / KVH);
  const int start = spans[3 * b];
  const int stop = spans[3 * b + 1];
  const size_t cap = static_cast<size_t>(spans[3 * b + 2]);
  const float sc = scale[0];
  const T* qrow = q + (static_cast<size_t>(b) * H + h) * D;
  float qv[E];
#pragma unroll
  for (int e = 0; e < E; ++e) qv[e] = static_cast<float>(qrow[lane + 32 * e]) * sc;
  const size_t base = (static_cast<size_t>(b) * KVH + kvh) * cap * D;
  const T* kb = keys + base;
  const T* vb = values + base;
  float m = -INFINITY, l = 0.0f, acc[E];
#pragma unroll
  for (int e = 0; e < E; ++e) acc[e] = 0.0f;
  for (int j0 = start + warp * U; j0 < stop; j0 += WARPS * U) {
    float kv[U][E], s[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j0 + u < stop ? j0 + u : stop - 1;
#pragma unroll
      for (int e = 0; e < E; ++e) kv[u][e] = static_cast<float>(kb[static_cast<size_t>(j) * D + lane + 32 * e]);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      s[u] = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e) s[u] += qv[e] * kv[u][e];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
#pragma unroll
      for (int u = 0; u < U; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
    float mn = m;
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (j0 + u < stop) mn = fmaxf(mn, s[u]);
    const float corr = m == -INFINITY ? 0.0f : __expf(m - mn);
    l *= corr;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] *= corr;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = j0 + u < stop ? j0 + u : stop - 1;
#pragma unroll
      for (int e = 0; e < E; ++e) kv[u][e] = static_cast<float>(vb[static_cast<size_t>(j) * D + lane + 32 * e]);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const float p = j0 + u < stop ? __expf(s[u] - mn) : 0.0f;
      l += p;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] += p * kv[u][e];
    }
    m = mn;
  }
  __shared__ float wm[WARPS], wl[WARPS], wacc[WARPS][D];
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < E; ++e) wacc[warp][lane + 32 * e] = acc[e];
  __syncthreads();
  if (warp == 0) {
    float M = -INFINITY;
    for (int w = 0; w < WARPS; ++w) M = fmaxf(M, wm[w]);
    float L = 0.0f, o[E];
#pragma unroll
    for (int e = 0; e < E; ++e) o[e] = 0.0f;
    for (int w = 0; w < WARPS; ++w) {
      const float c = wm[w] == -INFINITY ? 0.0f : __expf(wm[w] - M);
      L += wl[w] * c;
#pragma unroll
      for (int e = 0; e < E; ++e) o[e] += wacc[w][lane + 32 * e] * c;
    }
    T* orow = out + (static_cast<size_t>(b) * H + h) * D;
#pragma unroll
    for (int e = 0; e < E; ++e) orow[lane + 32 * e] = static_cast<T>(o[e] / L);
  }
)";

const mx::fast::CustomKernelFunction& kernel() {
  static const auto k = mx::fast::cuda_kernel("pensieve_decode_attention", {"q", "keys", "values", "spans", "scale"},
                                              {"out"}, kSource);
  return k;
}

// The scale as a device array, made once: a new host array per layer and step would be one more
// upload each (the model has one scale). Never destroyed: at exit MLX's allocator may go first.
mx::array scale_array(float scale) {
  static std::mutex mutex;
  static auto* made = new std::vector<std::pair<float, mx::array>>();
  std::lock_guard lock(mutex);
  for (const auto& [value, array] : *made)
    if (value == scale) return array;
  made->emplace_back(scale, mx::array({scale}, mx::float32));
  return made->back().second;
}

}  // namespace

bool cuda_decode_attention_available() {
  static const bool on = env_switch("PENSIEVE_CUDA_ATTENTION") && mx::cu::is_available();
  return on && mx::default_device() == mx::Device::gpu;
}

std::optional<mx::array> cuda_decode_attention(const mx::array& q, const mx::array& keys, const mx::array& values,
                                               const mx::array& spans, float scale) {
  if (!cuda_decode_attention_available()) return std::nullopt;
  if (q.ndim() != 4 || q.shape(2) != 1 || keys.ndim() != 4 || keys.shape() != values.shape()) return std::nullopt;
  const int B = q.shape(0), H = q.shape(1), D = q.shape(3), KVH = keys.shape(1);
  if (keys.shape(0) != B || keys.shape(3) != D || D % 32 != 0 || H % KVH != 0) return std::nullopt;
  if (spans.dtype() != mx::int32 || spans.shape() != mx::Shape{B, 3}) return std::nullopt;
  // One block a (row, head), its warps walking their positions a memory latency a turn: it needs
  // many blocks to fill the GPU. On an H200 at 32 rows x 32 heads x ~700 positions it took a
  // decode step from 23.7 to 20.7 ms (MLX's masked SDPA: 8.7 ms for the 32 layers); with one
  // sequence (32 blocks) a synchronous step took 7.4 ms through it against 5.1 ms through MLX's
  // fused SDPA, which needs no mask there.
  if (B * H < kMinBlocks) return std::nullopt;
  if (keys.dtype() != q.dtype() || values.dtype() != q.dtype() ||
      (q.dtype() != mx::float16 && q.dtype() != mx::bfloat16 && q.dtype() != mx::float32))
    return std::nullopt;
  auto out = kernel()({q, keys, values, spans, scale_array(scale)}, {{B, 1, H * D}}, {q.dtype()},
                      {B * H * kWarps * 32, 1, 1}, {kWarps * 32, 1, 1},
                      {{"T", q.dtype()}, {"D", D}, {"H", H}, {"KVH", KVH}, {"WARPS", kWarps}},
                      std::nullopt, false, {});
  return out[0];
}

}  // namespace pensieve::kernels
