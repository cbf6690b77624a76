#include "model/cuda_decoder_kernels.h"

#include "kernels/cuda_gemv_source.h"

namespace pensieve::model::cuda_kernels {

namespace {

// The decoder's own kernels (the GEMV comes from kernels/cuda_gemv_source.h). Each begins with
// let_next_start() and wait_previous() (the lone sequence's attention loads older keys and values
// in between): CudaDecoder launches them to overlap their predecessor.
constexpr const char* kKernels = R"(
#define NEG_INF __int_as_float(0xff800000)
// The batched GEMM's input order (pair8's, per 8 values): where value k is stored.
__device__ __forceinline__ int paired_index(int k) { return (k & ~7) | ((k & 3) << 1) | ((k >> 2) & 1); }
// Row `token` (from the device when token_host < 0) of the 4-bit embedding, dequantized; block b
// embeds row b of a batch (token_dev[b], out + b·HIDDEN).
extern "C" __global__ void embed(const int* token_dev, int token_host, const u32* w, const h16* scales,
                                 const h16* biases, h16* out, int vocab) {
  let_next_start();
  wait_previous();
  int tok = token_host >= 0 ? token_host : token_dev[blockIdx.x];
  if (tok < 0 || tok >= vocab) tok = 0;
  out += (size_t)blockIdx.x * HIDDEN;
  const u32* row = w + (size_t)tok * (HIDDEN / 8);
  for (int word = threadIdx.x; word < HIDDEN / 8; word += blockDim.x) {
    const u32 q = row[word];
    const int g = (size_t)tok * (HIDDEN / 64) + (8 * word) / 64;
    const float sc = h2f(scales[g]), bi = h2f(biases[g]);
#pragma unroll
    for (int k = 0; k < 8; ++k) out[8 * word + k] = f2h(sc * (float)((q >> (4 * k)) & 15u) + bi);
  }
}

// Element d of a pair rotated by RoPE (non-traditional: d pairs with d ± HEAD_DIM/2; x1 is element
// i = d mod HEAD_DIM/2, x2 element i + HEAD_DIM/2) at the angle pos · position_scale / divisor_i,
// whose sine and cosine are sn and cs; factor multiplies q and k first, 1 where it is folded into
// the attention scale.
__device__ __forceinline__ float rotate(float x1, float x2, int d, float sn, float cs, float factor) {
  if (factor != 1.0f) {
    x1 = round_h(x1 * factor);
    x2 = round_h(x2 * factor);
  }
  return d < HEAD_DIM / 2 ? x1 * cs - x2 * sn : x2 * cs + x1 * sn;
}

// Decode attention of one sequence's new position straight from the qkv projection
// (flash-decoding): block (head, chunk) attends over the columns [first, column] of its KV head
// that fall in [chunk·len_per, …), its query rotated at `pos` as it loads it. The block whose
// chunk holds `column` first writes the new position's rotated key and value there. Each block
// leaves its running max, sum of exponentials and weighted values in part (MAX_CHUNKS slots a
// head, HEAD_DIM + 2 floats each); the last of a head's blocks to finish (done[head] counts them,
// and that block resets it) combines them into out (paired: in the batched GEMM's input order).
// Four warps a block, eight keys a turn a warp.
// PREFETCH: the first two turns' keys and values older than `column` (earlier steps wrote them)
// are loaded before wait_previous(), so they are in flight while the previous kernel finishes;
// the caller has not waited. Otherwise the caller has.
template <bool PREFETCH>
__device__ __forceinline__ void attend(const h16* qkv, h16* kcache, h16* vcache, const float* inv_freq, int pos,
                                       int first, int column, int cap, float position_scale, float factor, float* part,
                                       int* done, h16* out, bool paired, int chunks, int len_per, float scale) {
  constexpr int E = HEAD_DIM / 32;
  constexpr int Q = HEAD_DIM / 4;  // a lane's quarter of a row
  constexpr int WARPS = 4;
  const int h = blockIdx.x, chunk = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int kvh = h / (HEADS / KV_HEADS);
  const int len = column + 1;
  const int chunk_start = chunk * len_per;
  const int start = max(first, chunk_start);
  const int stop = min(len, chunk_start + len_per);
  h16* const kb = kcache + (size_t)kvh * cap * HEAD_DIM;
  h16* const vb = vcache + (size_t)kvh * cap * HEAD_DIM;
  // A warp takes eight keys a turn: lane = 4·u + p reads the p-th quarter of key u's row and of
  // its value (16-byte loads, a turn's keys contiguous), the quarters' dot products meet over the
  // four lanes, and each lane keeps a running softmax of its own keys over its quarter.
  const int u = lane >> 2, p = lane & 3;
  // The turn being computed (kq, vq) and the next one (kn, vn): a turn's loads are requested
  // before the one ahead of it is computed, not after (decode +1.4 % on an H200;
  // bench/gpu/README.md, thirteenth round).
  uint4 kq[Q / 8], vq[Q / 8], kn[Q / 8], vn[Q / 8];
  auto load_turn = [&](int j0, uint4 (&k)[Q / 8], uint4 (&v)[Q / 8]) {
    const int j = j0 + u;
    const size_t at = ((size_t)(j < stop ? j : stop - 1) * HEAD_DIM + p * Q) / 8;
#pragma unroll
    for (int i = 0; i < Q / 8; ++i) {
      k[i] = reinterpret_cast<const uint4*>(kb)[at + i];
      v[i] = reinterpret_cast<const uint4*>(vb)[at + i];
    }
  };
  const int first_turn = start + warp * 8, second_turn = first_turn + WARPS * 8;
  // The first two turns are requested before wait_previous() where they hold only keys that
  // earlier steps wrote: a lane's key is stale only where it is the new column (or the clamp's
  // stand-in).
  auto written_before = [&](int j0) { return PREFETCH && j0 < stop && min(j0 + u, stop - 1) != column; };
  const bool prefetched = written_before(first_turn), second_prefetched = written_before(second_turn);
  if (prefetched) load_turn(first_turn, kq, vq);
  if (second_prefetched) load_turn(second_turn, kn, vn);
  if (PREFETCH) wait_previous();
  // The query rotated into shared memory and, by the block whose chunk holds `column`, the new
  // key rotated and the new value written there: the query's and the key's loads issued together
  // and the angle taken once, before one barrier (the key's write, a barrier, then the query's
  // loads were two round trips to L2 on the step's critical path).
  __shared__ float qs[HEAD_DIM];
  const bool holds_column = column >= chunk_start && column < chunk_start + len_per;  // uniform over the block
  for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
    constexpr int HALF = HEAD_DIM / 2;
    const int i = d < HALF ? d : d - HALF;
    const h16* q = qkv + (size_t)h * HEAD_DIM;
    const h16* k = qkv + (size_t)(HEADS + kvh) * HEAD_DIM;
    const float q1 = h2f(q[i]), q2 = h2f(q[i + HALF]);
    float k1 = 0.0f, k2 = 0.0f;
    h16 v = 0;
    if (holds_column) {
      k1 = h2f(k[i]);
      k2 = h2f(k[i + HALF]);
      v = qkv[(size_t)(HEADS + KV_HEADS + kvh) * HEAD_DIM + d];
    }
    float sn, cs;
    sincosf((float)pos * position_scale * inv_freq[i], &sn, &cs);
    qs[d] = round_h(rotate(q1, q2, d, sn, cs, factor)) * scale;
    if (holds_column) {
      kb[(size_t)column * HEAD_DIM + d] = f2h(rotate(k1, k2, d, sn, cs, factor));
      vb[(size_t)column * HEAD_DIM + d] = v;
    }
  }
  __syncthreads();  // qs, and the block's own cache writes, visible to the block from here
  float qv[Q];
#pragma unroll
  for (int d = 0; d < Q; ++d) qv[d] = qs[p * Q + d];
  float m = NEG_INF, l = 0.0f, acc[Q];
#pragma unroll
  for (int d = 0; d < Q; ++d) acc[d] = 0.0f;
  for (int j0 = first_turn; j0 < stop; j0 += WARPS * 8) {
    const int j = j0 + u;
    const bool valid = j < stop;
    if (j0 != first_turn) {  // the previous turn requested this one
#pragma unroll
      for (int i = 0; i < Q / 8; ++i) {
        kq[i] = kn[i];
        vq[i] = vn[i];
      }
    } else if (!prefetched) {
      load_turn(j0, kq, vq);
    }
    // Request the turn after this one (unless it is the second and was prefetched).
    if ((j0 != first_turn || !second_prefetched) && j0 + WARPS * 8 < stop) load_turn(j0 + WARPS * 8, kn, vn);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < Q / 8; ++i) {
      float k8[8];
      unpack8(kq[i], k8);
#pragma unroll
      for (int e = 0; e < 8; ++e) s += qv[8 * i + e] * k8[e];
    }
    s += __shfl_xor_sync(0xffffffffu, s, 1);
    s += __shfl_xor_sync(0xffffffffu, s, 2);
    if (valid) {
      const float mn = fmaxf(m, s);
      const float corr = m == NEG_INF ? 0.0f : __expf(m - mn);
      const float pr = __expf(s - mn);
      l = l * corr + pr;
#pragma unroll
      for (int i = 0; i < Q / 8; ++i) {
        float v8[8];
        unpack8(vq[i], v8);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[8 * i + e] = acc[8 * i + e] * corr + pr * v8[e];
      }
      m = mn;
    }
  }
  // The warp's eight running softmaxes into one (lanes of the same quarter).
#pragma unroll
  for (int off = 4; off < 32; off <<= 1) {
    const float mo = __shfl_xor_sync(0xffffffffu, m, off), lo = __shfl_xor_sync(0xffffffffu, l, off);
    const float mn = fmaxf(m, mo);
    const float c = m == NEG_INF ? 0.0f : __expf(m - mn), co = mo == NEG_INF ? 0.0f : __expf(mo - mn);
    l = l * c + lo * co;
#pragma unroll
    for (int d = 0; d < Q; ++d) acc[d] = acc[d] * c + __shfl_xor_sync(0xffffffffu, acc[d], off) * co;
    m = mn;
  }
  __shared__ float wm[WARPS], wl[WARPS], wacc[WARPS][HEAD_DIM];
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
  if (u == 0) {
#pragma unroll
    for (int d = 0; d < Q; ++d) wacc[warp][p * Q + d] = acc[d];
  }
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
  // The head's last block to get here combines its chunks (the others' slots read past L1). One
  // thread's acquire-release count orders the block's slot writes (before the barrier) ahead of
  // the last block's reads (after its barrier), where every thread's fence on each side did.
  __shared__ bool last;
  __syncthreads();
  if (threadIdx.x == 0) {
    int before;
    asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;" : "=r"(before) : "l"(done + h) : "memory");
    last = before == chunks - 1;
  }
  __syncthreads();
  if (!last) return;
  // The chunks' maxima and sums read at once (a thread a chunk), then each value's weighted sum
  // with its loads unrolled: not a chain of dependent reads past L1, two a chunk (decode +1.8 %
  // on an H200; bench/gpu/README.md, twelfth round).
  __shared__ float chunk_max[MAX_CHUNKS], chunk_sum[MAX_CHUNKS], chunk_weight[MAX_CHUNKS];
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    chunk_max[c] = __ldcg(head_part + c * (HEAD_DIM + 2));
    chunk_sum[c] = __ldcg(head_part + c * (HEAD_DIM + 2) + 1);
  }
  __syncthreads();
  float M = NEG_INF;
  for (int c = 0; c < chunks; ++c) M = fmaxf(M, chunk_max[c]);
  for (int c = threadIdx.x; c < chunks; c += blockDim.x)
    chunk_weight[c] = chunk_max[c] == NEG_INF ? 0.0f : __expf(chunk_max[c] - M);
  __syncthreads();
  const int d = threadIdx.x;
  if (d < HEAD_DIM) {
    float L = 0.0f, o = 0.0f;
#pragma unroll 8
    for (int c = 0; c < chunks; ++c) {
      L += chunk_sum[c] * chunk_weight[c];
      o += __ldcg(head_part + c * (HEAD_DIM + 2) + 2 + d) * chunk_weight[c];
    }
    const int i = h * HEAD_DIM + d;
    out[paired ? paired_index(i) : i] = f2h(o / L);
  }
  if (threadIdx.x == 0) done[h] = 0;
}

// One sequence at `pos` (its cache's columns 0 … pos).
extern "C" __global__ void attention(const h16* qkv, h16* kcache, h16* vcache, const float* inv_freq, int pos, int cap,
                                     float position_scale, float factor, float* part, int* done, h16* out, int chunks,
                                     int len_per, float scale) {
  let_next_start();
  attend<true>(qkv, kcache, vcache, inv_freq, pos, 0, pos, cap, position_scale, factor, part, done, out, false, chunks,
               len_per, scale);
}

// The rotation of a batch's rows: each row takes the short or long factors by its own position.
struct RowRope {
  const float* inv_freq[2];  // short, long
  float position_scale[2];
  float factor[2];
  int long_from;  // positions at least this take the long factors
};

// Row blockIdx.z of a batch (model::BatchKVCache: right-aligned rows, the new position of every
// row at column `column`): rows_info[r] is the row's first column, rows_info[MAX_ROWS + r] its
// position. Its output in the batched GEMM's order.
extern "C" __global__ void attention_rows(const h16* qkv, h16* kcache, h16* vcache, RowRope rope, const int* rows_info,
                                          int column, int cap, float* part, int* done, h16* out, int chunks,
                                          int len_per, float scale) {
  let_next_start();
  wait_previous();
  const int r = blockIdx.z;
  const int pos = rows_info[MAX_ROWS + r];
  const int which = pos >= rope.long_from ? 1 : 0;
  const size_t row_cache = (size_t)r * KV_HEADS * cap * HEAD_DIM;
  attend<false>(qkv + (size_t)r * QKV_WIDTH, kcache + row_cache, vcache + row_cache, rope.inv_freq[which], pos,
         rows_info[r], column, cap, rope.position_scale[which], rope.factor[which],
         part + (size_t)r * HEADS * MAX_CHUNKS * (HEAD_DIM + 2), done + r * HEADS, out + (size_t)r * HEADS * HEAD_DIM,
         true, chunks, len_per, scale);
}

// Row blockIdx.x of h, RMS-normalized and times w (as the GEMV's NORM staging), in the batched
// GEMM's input order.
extern "C" __global__ void norm_rows(const h16* h, const h16* w, float eps, uint4* out) {
  let_next_start();
  wait_previous();
  constexpr int WARPS = 8;
  const h16* x = h + (size_t)blockIdx.x * HIDDEN;
  const float norm_scale = block_rms_scale<HIDDEN>(x, eps);
  for (int word = threadIdx.x; word < HIDDEN / 8; word += WARPS * 32) {
    float v[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) v[k] = normed(h2f(x[8 * word + k]), w[8 * word + k], norm_scale);
    out[(size_t)blockIdx.x * (HIDDEN / 8) + word] = pair8(v);
  }
}

// The first index of the largest logit (as MLX's argmax); block b takes row b of a batch.
extern "C" __global__ void argmax(const h16* logits, int vocab, int* token) {
  let_next_start();
  wait_previous();
  logits += (size_t)blockIdx.x * vocab;
  token += blockIdx.x;
  float best = NEG_INF;
  int index = 0x7fffffff;
  if (vocab % 8 == 0) {  // rows 16-byte aligned: eight logits a load, a thread's loads out at once
    const uint4* words = reinterpret_cast<const uint4*>(logits);
#pragma unroll 4
    for (int w = threadIdx.x; w < vocab / 8; w += blockDim.x) {
      float v[8];
      unpack8(words[w], v);
#pragma unroll
      for (int k = 0; k < 8; ++k)
        if (v[k] > best) {  // a thread's indices rise: the first of equal values stays
          best = v[k];
          index = 8 * w + k;
        }
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const float v = h2f(logits[i]);
      if (v > best) {
        best = v;
        index = i;
      }
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

constexpr const char* kBatchGemm = R"(
#if __CUDA_ARCH__ >= 800
// d += a · b on the tensor cores: a 16×16 float16 tile of weights (row-major fragments a0 … a3),
// b a 16×8 tile of activations, d 16×8 float32.
__device__ __forceinline__ void mma16816(float (&d)[4], u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// A packed word's eight weights as nibble_pairs' half2 pairs, each n·s + b in one fma.
__device__ __forceinline__ void dequant_word(u32 q, u32 s2, u32 b2, u32 (&out)[4]) {
  nibble_pairs(q, out);
#pragma unroll
  for (int i = 0; i < 4; ++i) out[i] = hfma2(out[i], s2, b2);
}

// A lane's weights of one 128-value chunk of a tile: rows g and g + 8 of the tile (gated: the
// gate row and its up row), 32 weights each from value 32·tig, and their group's scale and bias
// (twice: half2).
struct TileChunk {
  uint4 q[2];
  u32 s[2], b[2];
};
// The chunk of rows row0 and row1 from value k (the lane's 32).
template <int K>
__device__ __forceinline__ void load_tile_chunk(TileChunk& tc, const uint4* __restrict__ w,
                                                const h16* __restrict__ scales, const h16* __restrict__ biases,
                                                int row0, int row1, int k) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const size_t row = (size_t)(h == 0 ? row0 : row1);
    tc.q[h] = __ldcs(w + row * (K / 32) + k / 32);
    const u32 s = scales[row * (K / 64) + k / 64], b = biases[row * (K / 64) + k / 64];
    tc.s[h] = s | (s << 16);
    tc.b[h] = b | (b << 16);
  }
}
// acc[j] += the tile's packed word i (8 weights of each row) against x's word i of batch rows
// 8·j + g (xv[j], in the paired order): both rows dequantized once for the NT column tiles.
template <int NT>
__device__ __forceinline__ void word_products(float (&acc)[NT][4], const TileChunk& tc, const uint4 (&xv)[NT], int i) {
  u32 lo[4], hi[4];
  const u32 qlo = i == 0 ? tc.q[0].x : i == 1 ? tc.q[0].y : i == 2 ? tc.q[0].z : tc.q[0].w;
  const u32 qhi = i == 0 ? tc.q[1].x : i == 1 ? tc.q[1].y : i == 2 ? tc.q[1].z : tc.q[1].w;
  dequant_word(qlo, tc.s[0], tc.b[0], lo);
  dequant_word(qhi, tc.s[1], tc.b[1], hi);
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    mma16816(acc[j], lo[0], hi[0], lo[1], hi[1], xv[j].x, xv[j].y);
    mma16816(acc[j], lo[2], hi[2], lo[3], hi[3], xv[j].z, xv[j].w);
  }
}
// Floats a row of the partial sums' [tile row][batch row] table in shared memory: 8 words past a
// multiple of 32 banks, so a half-warp's float2 stores (fragment rows g, columns 2·tig) fall in 32
// different banks.
template <int NT>
__device__ __forceinline__ constexpr int sums_stride() { return 8 * NT + (8 * NT % 32 == 8 ? 0 : (40 - 8 * NT % 32) % 32); }

// y = W · x for up to 8·NT rows of x at once (a batch's sequences), W 4-bit group-64 [N, K].
// x: [8·NT rows][K] in the paired order (norm_rows). 8 warps a block, each taking an eighth of K
// for the block's T tiles of 16 weight rows; the warps' partial sums meet in shared memory.
// MODE 0: y[b][row] = the product; 1: y[b][row] += it (as a separate add: the product rounded to
// half first); 2 (gated): tile rows 0–7 are gate rows i and rows 8–15 the up rows n_out + i,
// y[b][i] = silu(gate) · up in the paired order (the next GEMM's input). Rows of y past `rows`
// are not written.
template <int K, int T, int NT, int MODE>
__device__ __forceinline__ void gemm_rows(const uint4* __restrict__ x, const uint4* __restrict__ w,
                                          const h16* __restrict__ scales, const h16* __restrict__ biases, h16* y,
                                          int n_out, int rows) {
  constexpr int WARPS = 8, CHUNKS = K / (128 * WARPS);
  static_assert(K % (128 * WARPS) == 0, "K must be a multiple of 1024");
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  int row_of[T][2];
#pragma unroll
  for (int t = 0; t < T; ++t) {
    if (MODE == 2) {
      row_of[t][0] = blockIdx.x * 8 * T + t * 8 + g;
      row_of[t][1] = row_of[t][0] + n_out;
    } else {
      row_of[t][0] = blockIdx.x * 16 * T + t * 16 + g;
      row_of[t][1] = row_of[t][0] + 8;
    }
  }
  const int k_first = warp * (K / WARPS) + tig * 32;  // + 128 a chunk
  auto load = [&](TileChunk (&cw)[T], int chunk) {
#pragma unroll
    for (int t = 0; t < T; ++t) load_tile_chunk<K>(cw[t], w, scales, biases, row_of[t][0], row_of[t][1], k_first + chunk * 128);
  };
  TileChunk cw[2][T];
  load(cw[0], 0);
  // The weights' loads are in flight; x (and y) come from the previous kernel.
  let_next_start();
  wait_previous();
  float acc[T][NT][4];
#pragma unroll
  for (int t = 0; t < T; ++t)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[t][j][e] = 0.0f;
#pragma unroll
  for (int c = 0; c < CHUNKS; ++c) {
    if (c + 1 < CHUNKS) load(cw[(c + 1) & 1], c + 1);
    const TileChunk (&cur)[T] = cw[c & 1];
    const int word0 = (k_first + c * 128) / 8;
#pragma unroll
    for (int i = 0; i < 4; ++i) {  // the four packed words of the lane's 32 weights
      uint4 xv[NT];
#pragma unroll
      // Plain loads: x is the previous kernel's output, written while this one may already run
      // (overlapped launch), so never through the read-only path.
      for (int j = 0; j < NT; ++j) xv[j] = x[(size_t)(j * 8 + g) * (K / 8) + word0 + i];
#pragma unroll
      for (int t = 0; t < T; ++t) word_products<NT>(acc[t], cur[t], xv, i);
    }
  }
  // The eight warps' partial sums, part[warp][tile row][batch row], summed in a fixed order.
  constexpr int STRIDE = sums_stride<NT>();
  __shared__ float part[WARPS][16 * T][STRIDE];
#pragma unroll
  for (int t = 0; t < T; ++t)
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const int col = j * 8 + tig * 2;
      *reinterpret_cast<float2*>(&part[warp][t * 16 + g][col]) = make_float2(acc[t][j][0], acc[t][j][1]);
      *reinterpret_cast<float2*>(&part[warp][t * 16 + g + 8][col]) = make_float2(acc[t][j][2], acc[t][j][3]);
    }
  __syncthreads();
  auto sum = [&](int row, int b) {
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) v += part[w][row][b];
    return v;
  };
  constexpr int OUT = MODE == 2 ? 8 * T : 16 * T;  // values a batch row, this block
  for (int i = threadIdx.x; i < OUT * 8 * NT; i += WARPS * 32) {
    const int b = i / OUT, r = i % OUT;
    if (b >= rows) break;
    if (MODE == 2) {  // as MLX's path: gate and up rounded to half, silu rounded, the product rounded
      const int t = r / 8, k = r % 8;
      const float gate = round_h(sum(t * 16 + k, b)), up = round_h(sum(t * 16 + 8 + k, b));
      const int out = blockIdx.x * 8 * T + r;
      y[(size_t)b * n_out + paired_index(out)] = f2h(silu_mul(gate, up));
    } else {
      const size_t at = (size_t)b * n_out + blockIdx.x * 16 * T + r;
      const float v = sum(r, b);
      y[at] = MODE == 1 ? add_rounded(y[at], v) : f2h(v);
    }
  }
}
#endif

#if __CUDA_ARCH__ >= 900
// Shared memory and cluster helpers.
__device__ __forceinline__ unsigned shared_address(const void* p) {
  unsigned a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return a;
}
// 16 bytes from global memory (through L2 only) to shared memory, asynchronously.
__device__ __forceinline__ void copy16_async(unsigned dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src) : "memory");
}
__device__ __forceinline__ void wait_copies() { asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;" ::: "memory"); }
// Every thread of every block of the cluster: writes before it visible to all of them after it.
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
__device__ __forceinline__ unsigned cluster_rank() {
  unsigned r;
  asm("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
// The four floats at shared address `local` (16-byte aligned) in the cluster's block `rank`.
__device__ __forceinline__ float4 load_cluster4(unsigned local, unsigned rank) {
  unsigned remote;
  float4 v;
  asm("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(local), "r"(rank));
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(remote) : "memory");
  return v;
}

// Where word w (8 values) of a staged row of x sits: words 8–15 of each 16 swapped in pairs, so
// that with an odd row stride the 8 lanes of a 16-byte load's phase (two rows, four words 4·tig
// + i) meet 8 different bank groups.
__device__ __forceinline__ int staged_word(int w) { return w ^ (((w >> 3) & 1) << 1); }

// y = W · x for up to 8·NT rows of x (a batch's sequences) as gemm_rows, the work split otherwise:
// a block's 8 warps take a tile of 16 weight rows each (128 rows) over a slice of KS values of
// K, and the K / KS blocks of a row range form a cluster that sums their partial products through
// each other's shared memory. The block stages its slice of x (all rows) in shared memory once, in
// 512-value parts, for all 8 warps: x crosses L2 once for 128 weight rows, where gemm_rows' blocks
// read all of it for 32; and a warp's weights for a 512-value part are in flight at once (the
// first part's before the previous kernel ends).
template <int K, int KS, int NT, int MODE>
__device__ __forceinline__ void gemm_slices(const uint4* __restrict__ x, const uint4* __restrict__ w,
                                            const h16* __restrict__ scales, const h16* __restrict__ biases, h16* y,
                                            int n_out, int rows) {
  constexpr int WARPS = SLICE_TILES, PART = 512, PARTS = KS / PART, CHUNKS = PART / 128, SLICES = K / KS;
  constexpr int XW = PART / 8, XS = XW + 1;  // words of a staged row of x; its stride (odd)
  static_assert(K % KS == 0 && KS % PART == 0, "a slice is whole parts of 512 values");
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
  const int tiles = MODE == 2 ? n_out / 8 : n_out / 16;
  const int tile = blockIdx.x * WARPS + warp;
  const bool has_tile = tile < tiles;  // uniform over the warp: the last block may have fewer
  const int row0 = MODE == 2 ? tile * 8 + g : tile * 16 + g;
  const int row1 = MODE == 2 ? row0 + n_out : row0 + 8;
  const int k_begin = blockIdx.y * KS;
  auto load = [&](TileChunk& tc, int chunk) {  // chunk: of the block's slice
    load_tile_chunk<K>(tc, w, scales, biases, row0, row1, k_begin + chunk * 128 + tig * 32);
  };
  TileChunk wc[CHUNKS];
  if (has_tile) {
#pragma unroll
    for (int c = 0; c < CHUNKS; ++c) load(wc[c], c);
  }
  // The weights' loads are in flight; x (and y) come from the previous kernel.
  let_next_start();
  wait_previous();
  __shared__ uint4 xs[8 * NT * XS];
  const unsigned xs_at = shared_address(xs);
  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
#pragma unroll
  for (int part = 0; part < PARTS; ++part) {
    if (part > 0) __syncthreads();  // every warp is done with the previous part of x
    const int word0 = (k_begin + part * PART) / 8;
    for (int i = threadIdx.x; i < 8 * NT * XW; i += WARPS * 32) {
      const int r = i / XW, word = i % XW;
      copy16_async(xs_at + 16 * (r * XS + staged_word(word)), x + (size_t)r * (K / 8) + word0 + word);
    }
    wait_copies();
    __syncthreads();
    if (has_tile) {
#pragma unroll
      for (int c = 0; c < CHUNKS; ++c) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {  // the four packed words of the lane's 32 weights
          uint4 xv[NT];
#pragma unroll
          for (int j = 0; j < NT; ++j) xv[j] = xs[(j * 8 + g) * XS + staged_word(c * 16 + tig * 4 + i)];
          word_products<NT>(acc, wc[c], xv, i);
        }
        if (part + 1 < PARTS) load(wc[c], (part + 1) * CHUNKS + c);  // the next part's chunk, in flight meanwhile
      }
    }
  }
  // The warps' sums, sums[tile row][batch row], in the memory x's parts took.
  constexpr int STRIDE = sums_stride<NT>();
  static_assert(16 * WARPS * STRIDE * 4 <= (int)sizeof(xs), "the sums fit where x was");
  float* const sums = reinterpret_cast<float*>(xs);
  __syncthreads();
  if (has_tile) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const int col = j * 8 + tig * 2;
      *reinterpret_cast<float2*>(&sums[(warp * 16 + g) * STRIDE + col]) = make_float2(acc[j][0], acc[j][1]);
      *reinterpret_cast<float2*>(&sums[(warp * 16 + g + 8) * STRIDE + col]) = make_float2(acc[j][2], acc[j][3]);
    }
  }
  constexpr bool REDUCE = SLICES > 1;  // the sums of the cluster's blocks added together
  if (REDUCE)
    cluster_sync();
  else
    __syncthreads();
  // Each block of the cluster finishes an equal share of the outputs, four batch rows of one
  // output a thread (one 16-byte load from each block: neighbouring lanes take neighbouring
  // quads, 8 lanes 8 bank groups), adding the slices' sums in rank order (the same every step).
  // A value a load, with a row's lanes 8 ways in conflict, cost more than the products: qkv's
  // 48.5 us against 18.0 without the sums (bench/gpu/README.md, sixteenth round).
  const unsigned rank = SLICES > 1 ? cluster_rank() : 0;
  auto total4 = [&](int srow, int q) {
    const int at = srow * STRIDE + 4 * q;
    if (!REDUCE) return *reinterpret_cast<const float4*>(&sums[at]);
    const unsigned local = xs_at + 4 * at;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int s = 0; s < SLICES; ++s) {
      const float4 p = load_cluster4(local, s);
      v.x += p.x;
      v.y += p.y;
      v.z += p.z;
      v.w += p.w;
    }
    return v;
  };
  constexpr int OUTS = MODE == 2 ? 8 * WARPS : 16 * WARPS;  // values a batch row, this block
  constexpr int QUADS = 2 * NT;                             // of batch rows
  const int n = OUTS * QUADS;
  for (int e = n * (int)rank / SLICES + threadIdx.x; e < n * ((int)rank + 1) / SLICES; e += WARPS * 32) {
    const int o = e / QUADS, q = e % QUADS;
    const int out = blockIdx.x * OUTS + o;
    if (out >= n_out || 4 * q >= rows) continue;  // a tile the last block has not; rows past the batch
    if (MODE == 2) {  // as MLX's path: gate and up rounded to half, silu rounded, the product rounded
      const int t = o / 8, k = o % 8;
      const float4 g4 = total4(t * 16 + k, q), u4 = total4(t * 16 + 8 + k, q);
      const float gate[4] = {g4.x, g4.y, g4.z, g4.w}, up[4] = {u4.x, u4.y, u4.z, u4.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (4 * q + i < rows)
          y[(size_t)(4 * q + i) * n_out + paired_index(out)] = f2h(silu_mul(round_h(gate[i]), round_h(up[i])));
    } else {
      const float4 v4 = total4(o, q);
      const float v[4] = {v4.x, v4.y, v4.z, v4.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        if (4 * q + i >= rows) break;
        const size_t at = (size_t)(4 * q + i) * n_out + out;
        y[at] = MODE == 1 ? add_rounded(y[at], v[i]) : f2h(v[i]);
      }
    }
  }
  // The block's sums stay until every block of the cluster has read them (their loads are done
  // once their values are used: no ordering needed beyond that).
  if (REDUCE) asm volatile("barrier.cluster.arrive.relaxed.aligned;\nbarrier.cluster.wait.aligned;" ::: "memory");
}
#endif
)";

}  // namespace

std::string Gemv::name() const {
  return "gemv_" + std::to_string(K) + "_" + std::to_string(R) + (residual ? "_residual" : "") + (norm ? "_norm" : "") + (gated ? "_gated" : "") + (looped ? "" : "_single") + (dp4a ? "_dp4a" : "") + (warps != 8 ? "_w" + std::to_string(warps) : "");
}

int gemv_block_warps(bool looped, int rows) {
  const int warps = looped ? 16 : 24;
  return rows % warps == 0 ? warps : 8;
}

Gemv gemv_variant(Gemv g, bool looping, int rows) {
  g.looped = looping && g.K <= kernels::kGemvMaxTwoSetK;  // longer rows: the single-set kernel loops
  g.warps = gemv_block_warps(looping, rows);
  return g;
}

int batch_gemm_slice(int K) {
  for (int ks = 512; ks <= K; ks += 512)
    if (K % ks == 0 && K / ks <= 8) return ks;
  return 0;
}

std::optional<BatchLaunch> batch_launch(int in, int out, int mode, bool sliced) {
  const int values = mode == 2 ? out / 2 : out;
  const int tile_values = mode == 2 ? 8 : 16;  // a tile: 16 rows, gated 8 gate rows and their 8 up rows
  if (in % 1024 != 0 || values % tile_values != 0) return std::nullopt;
  const int tiles = values / tile_values;
  const int slice = sliced ? batch_gemm_slice(in) : 0;
  BatchLaunch l;
  l.values = values;
  // gemm_rows: two tiles a block where they pair up. A block reads all of x (32 rows of 3072
  // values: 196 KB, five times the weights' bytes in L2 traffic for o), so fewer blocks read less,
  // also where that leaves multiprocessors without a block (o and down, 96 blocks): 32 rows decode
  // 8470 tokens/s against 7700 with a tile a block there (bench/gpu/README.md, tenth round).
  const int T = slice > 0 || tiles % 2 != 0 ? 1 : 2;
  l.gemm = BatchGemm{in, T, 1, mode};
  l.gemm.KS = slice;
  l.blocks = static_cast<unsigned>(slice > 0 ? (tiles + kSliceTiles - 1) / kSliceTiles : tiles / T);
  l.slices = static_cast<unsigned>(slice > 0 ? in / slice : 1);
  return l;
}

std::string BatchGemm::name() const {
  if (KS > 0)
    return "gemms_" + std::to_string(K) + "_" + std::to_string(KS) + "_" + std::to_string(NT) + "_" + std::to_string(mode);
  return "gemm_" + std::to_string(K) + "_" + std::to_string(T) + "_" + std::to_string(NT) + "_" + std::to_string(mode);
}

std::string source(const Dims& dims, const std::vector<Gemv>& gemvs, const std::vector<BatchGemm>& gemms) {
  auto define = [](const char* name, int v) { return std::string("#define ") + name + " " + std::to_string(v) + "\n"; };
  std::string s = define("HIDDEN", dims.hidden) + define("HEADS", dims.heads) + define("KV_HEADS", dims.kv_heads) +
                  define("HEAD_DIM", dims.head_dim) + define("MAX_CHUNKS", dims.max_chunks) +
                  define("MAX_ROWS", dims.max_rows) +
                  define("QKV_WIDTH", (dims.heads + 2 * dims.kv_heads) * dims.head_dim) +
                  define("SLICE_TILES", kSliceTiles);
  s += kernels::kCudaGemvSource;
  s += kKernels;
  for (const auto& g : gemvs) {
    // Blocks larger than 8 warps: one a multiprocessor (gemv_block_warps), which the registers
    // must allow (24 warps: 80 registers). Single-group blocks of 8 warps: as many resident a
    // multiprocessor as the decoder's choice of these kernels assumes; left to itself the
    // compiler gives K = 8192 82 registers, two blocks.
    const std::string bounds = g.warps != 8 ? "__launch_bounds__(" + std::to_string(g.threads()) + ", 1) "
                               : g.looped   ? ""
                               : g.K > 4096 ? "__launch_bounds__(256, 3) "
                                            : "__launch_bounds__(256, 4) ";
    s += std::string("extern \"C\" __global__ void ") + bounds + g.name() +
         "(const h16* x, const uint4* w, const h16* scales, const h16* biases, h16* y, const h16* norm_w, float eps, "
         "int groups) {\n  gemv<" + std::to_string(g.K) + ", " + std::to_string(g.R) + ", " +
         "false, " + (g.residual ? "true" : "false") + ", " + (g.norm ? "true" : "false") +
         ", " + (g.gated ? "true" : "false") + ", " + (g.looped ? "true" : "false") +
         ", " + (g.dp4a ? "true" : "false") + ", " + std::to_string(g.warps) +
         ">(x, w, scales, biases, y, norm_w, eps, groups);\n}\n";
  }
  if (gemms.empty()) return s;
  s += kBatchGemm;
  for (const auto& g : gemms) {
    const std::string args = "(const uint4* x, const uint4* w, const h16* scales, const h16* biases, h16* y, int n_out, "
                             "int rows) {\n";
    const std::string params = ", " + std::to_string(g.NT) + ", " + std::to_string(g.mode) + ">(x, w, scales, biases, y, n_out, rows);\n}\n";
    s += g.KS > 0 ? "#if __CUDA_ARCH__ >= 900\n" : "#if __CUDA_ARCH__ >= 800\n";
    if (g.KS > 0) {
      const int slices = g.K / g.KS;
      s += "extern \"C\" __global__ void " +
           (slices > 1 ? "__cluster_dims__(1, " + std::to_string(slices) + ", 1) " : std::string()) +
           "__launch_bounds__(256, 2) " + g.name() + args + "  gemm_slices<" + std::to_string(g.K) + ", " +
           std::to_string(g.KS) + params;
    } else {
      s += "extern \"C\" __global__ void __launch_bounds__(256) " + g.name() + args + "  gemm_rows<" +
           std::to_string(g.K) + ", " + std::to_string(g.T) + params;
    }
    s += "#endif\n";
  }
  return s;
}

}  // namespace pensieve::model::cuda_kernels
