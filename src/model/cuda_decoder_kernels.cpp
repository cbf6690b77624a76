#include "model/cuda_decoder_kernels.h"

#include "kernels/cuda_gemv_source.h"

namespace pensieve::model::cuda_kernels {

namespace {

// The decoder's own kernels (the GEMV comes from kernels/cuda_gemv_source.h). Each begins with
// let_next_start() and wait_previous(): CudaDecoder launches them to overlap their predecessor.
constexpr const char* kKernels = R"(
#define NEG_INF __int_as_float(0xff800000)
// Row `token` (from the device when token_host < 0) of the 4-bit embedding, dequantized.
extern "C" __global__ void embed(const int* token_dev, int token_host, const u32* w, const h16* scales,
                                 const h16* biases, h16* out, int vocab) {
  let_next_start();
  wait_previous();
  int tok = token_host >= 0 ? token_host : token_dev[0];
  if (tok < 0 || tok >= vocab) tok = 0;
  const u32* row = w + (size_t)tok * (HIDDEN / 8);
  for (int word = threadIdx.x; word < HIDDEN / 8; word += blockDim.x) {
    const u32 q = row[word];
    const int g = (size_t)tok * (HIDDEN / 64) + (8 * word) / 64;
    const float sc = h2f(scales[g]), bi = h2f(biases[g]);
#pragma unroll
    for (int k = 0; k < 8; ++k) out[8 * word + k] = f2h(sc * (float)((q >> (4 * k)) & 15u) + bi);
  }
}

// Rows j0 … j0+U−1 of a head's keys or values (past `stop`: row stop−1 again, masked by the
// caller), a lane's E dimensions of each, all loads issued before any is used.
template <int U, int E>
__device__ __forceinline__ void load_rows(const h16* base, int j0, int stop, int lane, float (&out)[U][E]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int j = j0 + u < stop ? j0 + u : stop - 1;
#pragma unroll
    for (int e = 0; e < E; ++e) out[u][e] = h2f(base[(size_t)j * HEAD_DIM + lane + 32 * e]);
  }
}

// Element d of head `head` of qkv rotated at `pos` (non-traditional RoPE: d pairs with
// d ± HEAD_DIM/2; inv_freq[i] = 1 / divisor_i; factor multiplies q and k first, 1 where it is
// folded into the attention scale).
__device__ __forceinline__ float rotated(const h16* qkv, int head, int d, const float* inv_freq, int pos,
                                         float position_scale, float factor) {
  constexpr int HALF = HEAD_DIM / 2;
  const h16* src = qkv + (size_t)head * HEAD_DIM;
  const int i = d < HALF ? d : d - HALF;
  float x1 = h2f(src[i]), x2 = h2f(src[i + HALF]);
  if (factor != 1.0f) {
    x1 = round_h(x1 * factor);
    x2 = round_h(x2 * factor);
  }
  float sn, cs;
  sincosf((float)pos * position_scale * inv_freq[i], &sn, &cs);
  return d < HALF ? x1 * cs - x2 * sn : x2 * cs + x1 * sn;
}

// Decode attention at `pos` straight from the qkv projection (flash-decoding): block (head,
// chunk) attends over positions [chunk·len_per, …) of its KV head, its query rotated as it loads
// it. The block whose chunk holds `pos` first writes the new position's rotated key and value
// into the caches. Each block leaves its running max, sum of exponentials and weighted values in
// part (MAX_CHUNKS slots a head, HEAD_DIM + 2 floats each); the last of a head's blocks to finish
// (done[head] counts them, and that block resets it) combines them into out. Four warps a block,
// four keys a turn a warp, loads first.
extern "C" __global__ void attention(const h16* qkv, h16* kcache, h16* vcache, const float* inv_freq, int pos, int cap,
                                     float position_scale, float factor, float* part, int* done, h16* out, int chunks,
                                     int len_per, float scale) {
  let_next_start();
  wait_previous();
  constexpr int E = HEAD_DIM / 32;
  constexpr int U = 4;
  constexpr int WARPS = 4;
  const int h = blockIdx.x, chunk = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int kvh = h / (HEADS / KV_HEADS);
  const int len = pos + 1;
  const int start = chunk * len_per;
  const int stop = min(len, start + len_per);
  h16* const kb = kcache + (size_t)kvh * cap * HEAD_DIM;
  h16* const vb = vcache + (size_t)kvh * cap * HEAD_DIM;
  if (stop == len) {  // uniform over the block
    for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
      kb[(size_t)pos * HEAD_DIM + d] = f2h(rotated(qkv, HEADS + kvh, d, inv_freq, pos, position_scale, factor));
      vb[(size_t)pos * HEAD_DIM + d] = qkv[(size_t)(HEADS + KV_HEADS + kvh) * HEAD_DIM + d];
    }
    __syncthreads();  // the block's own writes are visible to it from here
  }
  float qv[E];
#pragma unroll
  for (int e = 0; e < E; ++e) qv[e] = round_h(rotated(qkv, h, lane + 32 * e, inv_freq, pos, position_scale, factor)) * scale;
  float m = NEG_INF, l = 0.0f, acc[E];
#pragma unroll
  for (int e = 0; e < E; ++e) acc[e] = 0.0f;
  for (int j0 = start + warp * U; j0 < stop; j0 += WARPS * U) {
    float kv[U][E], s[U];
    load_rows(kb, j0, stop, lane, kv);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      s[u] = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e) s[u] += qv[e] * kv[u][e];
      s[u] = warp_sum(s[u]);
    }
    float mn = m;
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (j0 + u < stop) mn = fmaxf(mn, s[u]);
    const float corr = m == NEG_INF ? 0.0f : __expf(m - mn);
    l *= corr;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] *= corr;
    load_rows(vb, j0, stop, lane, kv);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const float p = j0 + u < stop ? __expf(s[u] - mn) : 0.0f;
      l += p;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] += p * kv[u][e];
    }
    m = mn;
  }
  __shared__ float wm[WARPS], wl[WARPS], wacc[WARPS][HEAD_DIM];
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < E; ++e) wacc[warp][lane + 32 * e] = acc[e];
  __syncthreads();
  float* const head_part = part + (size_t)h * MAX_CHUNKS * (HEAD_DIM + 2);
  if (warp == 0) {
    float M = NEG_INF;
    for (int w = 0; w < WARPS; ++w) M = fmaxf(M, wm[w]);
    float L = 0.0f, o[E];
#pragma unroll
    for (int e = 0; e < E; ++e) o[e] = 0.0f;
    for (int w = 0; w < WARPS; ++w) {
      const float c = wm[w] == NEG_INF ? 0.0f : __expf(wm[w] - M);
      L += wl[w] * c;
#pragma unroll
      for (int e = 0; e < E; ++e) o[e] += wacc[w][lane + 32 * e] * c;
    }
    float* slot = head_part + (size_t)chunk * (HEAD_DIM + 2);
    if (lane == 0) {
      slot[0] = M;
      slot[1] = L;
    }
#pragma unroll
    for (int e = 0; e < E; ++e) slot[2 + lane + 32 * e] = o[e];
  }
  // The head's last block to get here combines its chunks (the others' slots read past L1).
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(done + h, 1) == chunks - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  const int d = threadIdx.x;
  if (d < HEAD_DIM) {
    float M = NEG_INF;
    for (int c = 0; c < chunks; ++c) M = fmaxf(M, __ldcg(head_part + c * (HEAD_DIM + 2)));
    float L = 0.0f, o = 0.0f;
    for (int c = 0; c < chunks; ++c) {
      const float* slot = head_part + c * (HEAD_DIM + 2);
      const float mc = __ldcg(slot);
      const float w = mc == NEG_INF ? 0.0f : __expf(mc - M);
      L += __ldcg(slot + 1) * w;
      o += __ldcg(slot + 2 + d) * w;
    }
    out[h * HEAD_DIM + d] = f2h(o / L);
  }
  if (threadIdx.x == 0) done[h] = 0;
}

// The first index of the largest logit (as MLX's argmax), one block.
extern "C" __global__ void argmax(const h16* logits, int vocab, int* token) {
  let_next_start();
  wait_previous();
  float best = NEG_INF;
  int index = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = h2f(logits[i]);
    if (v > best) {
      best = v;
      index = i;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, index, o);
    if (ov > best || (ov == best && oi < index)) {
      best = ov;
      index = oi;
    }
  }
  __shared__ float wb[32];
  __shared__ int wi[32];
  if ((threadIdx.x & 31) == 0) {
    wb[threadIdx.x >> 5] = best;
    wi[threadIdx.x >> 5] = index;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
      if (wb[w] > best || (wb[w] == best && wi[w] < index)) {
        best = wb[w];
        index = wi[w];
      }
    token[0] = index == 0x7fffffff ? 0 : index;
  }
}
)";

}  // namespace

std::string Gemv::name() const {
  return "gemv_" + std::to_string(K) + "_" + std::to_string(R) + (residual ? "_residual" : "") + (norm ? "_norm" : "") + (gated ? "_gated" : "");
}

std::string source(const Dims& dims, const std::vector<Gemv>& gemvs) {
  std::string s = "#define HIDDEN " + std::to_string(dims.hidden) + "\n#define HEADS " + std::to_string(dims.heads) +
                  "\n#define KV_HEADS " + std::to_string(dims.kv_heads) + "\n#define HEAD_DIM " +
                  std::to_string(dims.head_dim) + "\n#define MAX_CHUNKS " + std::to_string(dims.max_chunks) + "\n";
  s += kernels::kCudaGemvSource;
  s += kKernels;
  for (const auto& g : gemvs) {
    s += "extern \"C\" __global__ void " + g.name() +
         "(const h16* x, const uint4* w, const h16* scales, const h16* biases, h16* y, const h16* norm_w, float eps, "
         "int groups) {\n  gemv<" + std::to_string(g.K) + ", " + std::to_string(g.R) + ", " +
         "false, " + (g.residual ? "true" : "false") + ", " + (g.norm ? "true" : "false") +
         ", " + (g.gated ? "true" : "false") + ">(x, w, scales, biases, y, norm_w, eps, groups);\n}\n";
  }
  return s;
}

}  // namespace pensieve::model::cuda_kernels
