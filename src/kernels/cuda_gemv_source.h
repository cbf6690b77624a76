#pragma once
// CUDA C source shared by the two users of Pensieve's 4-bit GEMV: the MLX custom kernel
// (kernels/gemv_cuda.h) and the device decoder (model/cuda_decoder.h). Headerless: float16 values
// are 16-bit integers and their arithmetic is inline PTX, so NVRTC needs no CUDA toolkit headers.
//
// Defines h16 and u32, h2f/f2h/round_h, half2 hfma2/hmul2/hsub2/h2sum/pack2, warp_sum, and
//   template <int K, int R, bool SWIGLU, bool RESID, bool NORM = false, bool GATED = false, bool LOOP = true,
//             bool DP4A = false, int WARPS = 8>
//   __device__ void gemv(const h16* x, const uint4* w, const h16* scales, const h16* biases, h16* y,
//                        const h16* norm_w = nullptr, float eps = 0, int groups = 0);
// for blocks of WARPS warps: y = dequantize(w)·x (+ y when RESID), x (and with DP4A norm_w)
// 16-byte aligned. Row group g is rows (g·WARPS + warp)·R … +R−1; a block takes groups blockIdx.x,
// + gridDim.x, … below `groups` (0: one a block, the grid covering them), staging x once. LOOP
// loads the next group's weights while it computes one (a second set of registers, for
// K <= GEMV_MAX_TWO_SET_K); without it a block holds one group's weights and more blocks fit on a
// multiprocessor. SWIGLU reads x = [gate, up] (2K values) and uses silu(gate)·up; NORM uses
// rms_norm(x) · norm_w instead of x (each block normalizes x itself: no separate kernel). GATED
// (R = 1, a [gate; up] matrix of 2·M rows, M = groups·WARPS/2): warp w < WARPS/2 of group g
// takes gate row i = g·WARPS/2 + w and warp w + WARPS/2 up row M + i, and y[i] = silu(gate_i) ·
// up_i, so the next GEMV reads M values ready-made instead of each of its blocks computing the
// SwiGLU of all of them. DP4A
// stages x as 16-bit integers (a scale per 32 values) and takes the products as byte dot products
// (dp4a, two a weight byte): exact integer products in about half the instructions of the float16
// ones (the device decoder's choice: closer to MLX's logits, and its gated GEMV 13 % shorter
// alone; bench/gpu/README.md, eleventh round).
namespace pensieve::kernels {

// The block the MLX custom kernel takes (the template's default WARPS = 8), and how many rows its
// warps take (kernels/gemv_cuda.h, a block a row group): two a warp where the matrix has enough
// rows to fill the GPU (x staged half as often), else one. There are out / (8 · rows a warp) row
// groups (out a multiple of 8), and at most as many blocks. The device decoder takes a row a warp
// in larger blocks (model/cuda_decoder_kernels.h, gemv_block_warps).
inline constexpr int kGemvThreads = 256;
// The longest rows for which LOOP keeps a second set of weight registers (the template's
// GEMV_MAX_TWO_SET_K below, the same number): longer ones hold one set, looping or not.
inline constexpr int kGemvMaxTwoSetK = 4096;
inline int gemv_rows_per_warp(int out) { return out >= 8192 && out % 16 == 0 ? 2 : 1; }

inline constexpr const char* kCudaGemvSource = R"(
#define GEMV_MAX_TWO_SET_K 4096
typedef unsigned short h16;
typedef unsigned int u32;
__device__ __forceinline__ float h2f(h16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ h16 f2h(float f) { h16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float round_h(float f) { return h2f(f2h(f)); }
__device__ __forceinline__ u32 hfma2(u32 a, u32 b, u32 c) { u32 d; asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c)); return d; }
__device__ __forceinline__ u32 hmul2(u32 a, u32 b) { u32 d; asm("mul.rn.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b)); return d; }
__device__ __forceinline__ u32 hsub2(u32 a, u32 b) { u32 d; asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b)); return d; }
__device__ __forceinline__ float h2sum(u32 v) { return h2f((h16)(v & 0xffffu)) + h2f((h16)(v >> 16)); }
__device__ __forceinline__ u32 pack2(float lo, float hi) { return (u32)f2h(lo) | ((u32)f2h(hi) << 16); }
// Programmatic dependent launch (sm_90 on, CudaDriver::launch's overlap_previous): a kernel may
// start while the previous one in its stream still runs. let_next_start() lets the next kernel's
// blocks be scheduled; wait_previous() blocks until the previous kernel has ended and its writes
// are visible: before reading anything it wrote and before any write. Work that reads only what
// no kernel writes (weights) goes before it. Both are no-ops for a normal launch.
__device__ __forceinline__ void let_next_start() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
__device__ __forceinline__ void wait_previous() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// rsqrt(mean(x²) + eps) over N values from each thread's sum of squares of its share, for a
// block of WARPS warps (every thread gets it).
template <int N, int WARPS = 8>
__device__ __forceinline__ float rms_scale_of_squares(float squares, float eps) {
  __shared__ float part[WARPS];
  squares = warp_sum(squares);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = squares;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < WARPS; ++i) total += part[i];
  return rsqrtf(total / N + eps);
}
// As the rms_norm kernel: rsqrt(mean(x²) + eps) over x's N values, for a block of WARPS warps
// (every thread gets it).
template <int N, int WARPS = 8>
__device__ __forceinline__ float block_rms_scale(const h16* x, float eps) {
  float squares = 0.0f;
  for (int i = threadIdx.x; i < N; i += WARPS * 32) {
    const float v = h2f(x[i]);
    squares += v * v;
  }
  return rms_scale_of_squares<N, WARPS>(squares, eps);
}

// A packed word's eight 4-bit values (nibble k = value k) as the half2 pairs (n0,n4) (n1,n5)
// (n2,n6) (n3,n7): nibbles OR-ed into 1024.0's mantissa, 1024 taken off (the high nibble of a
// byte, 16x as large: x/16 − 64).
__device__ __forceinline__ void nibble_pairs(u32 q, u32 (&n)[4]) {
  const u32 k1024 = 0x64006400u, k16th = 0x2C002C00u, km64 = 0xD400D400u;
  const u32 q8 = q >> 8;
  n[0] = hsub2((q & 0x000F000Fu) | 0x64006400u, k1024);
  n[1] = hfma2((q & 0x00F000F0u) | 0x64006400u, k16th, km64);
  n[2] = hsub2((q8 & 0x000F000Fu) | 0x64006400u, k1024);
  n[3] = hfma2((q8 & 0x00F000F0u) | 0x64006400u, k16th, km64);
}
// Eight values as the pairs (v0,v4) (v1,v5) (v2,v6) (v3,v7): the order nibble_pairs gives weights in.
__device__ __forceinline__ uint4 pair8(const float (&v)[8]) {
  uint4 p;
  p.x = pack2(v[0], v[4]);
  p.y = pack2(v[1], v[5]);
  p.z = pack2(v[2], v[6]);
  p.w = pack2(v[3], v[7]);
  return p;
}
// The float values of eight packed halves, in order.
__device__ __forceinline__ void unpack8(uint4 v, float (&out)[8]) {
  const u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = h2f((h16)(w[i] & 0xffffu));
    out[2 * i + 1] = h2f((h16)(w[i] >> 16));
  }
}
// As MLX's path rounds them: an RMS-normalized value, weight · half(x · scale); silu(gate) · up
// with silu rounded to half (the caller rounds the product); y + v as a separate add would, v
// rounded to half and added in half.
__device__ __forceinline__ float normed(float x, h16 w, float scale) { return round_h(h2f(w) * round_h(x * scale)); }
__device__ __forceinline__ float silu_mul(float gate, float up) { return round_h(gate / (1.0f + __expf(-gate))) * up; }
__device__ __forceinline__ h16 add_rounded(h16 y, float v) { return f2h(h2f(y) + round_h(v)); }

// x as the GEMVs read it, in the block's shared memory: xs[c & 3][c >> 2] holds values 8c … 8c+7
// paired as word_dot wants them, xsum[c] the sum of each 32 (for the biases). SWIGLU reads x =
// [gate, up] (2K values) and uses silu(gate)·up; NORM uses rms_norm(x) · norm_w. Ends with a
// barrier.
template <int K, bool SWIGLU, bool NORM, int WARPS = 8>
__device__ __forceinline__ void stage_x(const h16* __restrict__ x, const h16* __restrict__ norm_w, float eps,
                                        uint4 (&xs)[4][K / 32], float (&xsum)[K / 32]) {
  float norm_scale = 1.0f;
  if (NORM) norm_scale = block_rms_scale<K, WARPS>(x, eps);  // then weight · half(x · scale)
  for (int word = threadIdx.x; word < K / 8; word += WARPS * 32) {
    float v[8];
    if (SWIGLU) {
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const float g = h2f(x[8 * word + k]);
        const float u = h2f(x[K + 8 * word + k]);
        v[k] = round_h(silu_mul(g, u));
      }
    } else {
      unpack8(reinterpret_cast<const uint4*>(x)[word], v);
      if (NORM) {
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = normed(v[k], norm_w[8 * word + k], norm_scale);
      }
    }
    xs[word & 3][word >> 2] = pair8(v);
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) sum += v[k];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if ((word & 3) == 0) xsum[word >> 2] = sum;
  }
  __syncthreads();
}

// x as integers for the byte dot products (DP4A): value v of a 32-value chunk c is
// q = round(v · 32767 / max |v|) in [-32767, 32767] (xscale[c] = max |v| / 32767 / 16), split as
// q = 256·hi + lo (hi a signed byte, lo an unsigned one). xi[j][c] holds word j of the chunk
// (values 8j … 8j+7) as {hi of values 0,2,4,6; hi of 1,3,5,7; lo of 0,2,4,6; lo of 1,3,5,7}, a
// byte each in that order: a weight word's nibbles split as q & 0x0F0F0F0F (values 0,2,4,6) and
// q & 0xF0F0F0F0 (16 times values 1,3,5,7) meet them byte for byte. The products are then exact
// integers, where the half2 path rounds each to float16. xsum[c] as stage_x's. Ends with a
// barrier.
__device__ __forceinline__ u32 pack_bytes(int a, int b, int c, int d) {
  return (u32)(a & 255) | ((u32)(b & 255) << 8) | ((u32)(c & 255) << 16) | ((u32)(d & 255) << 24);
}
// A thread's words of x (8 values each) in stage_x_int: words threadIdx.x + 32·WARPS·t.
template <int K, int WARPS = 8>
__host__ __device__ constexpr int x_words_a_thread() { return (K / 8 + 32 * WARPS - 1) / (32 * WARPS); }
// x is read once into registers and its squares summed from there, and the reciprocal of a
// chunk's largest |value| is the fast one (q is exact to within its rounding either way, and
// xscale is what dequantizes it): both shorten the chain every GEMV block runs through before its
// first product (decode +2.5 % on an H100; bench/gpu/README.md, fourteenth round). norm_words:
// the thread's words of the norm weight (NORM, 16-byte aligned), loaded by the caller before it
// waits for the previous kernel (a weight: no kernel writes it; measured alike either way).
template <int K, bool NORM, int WARPS = 8>
__device__ __forceinline__ void stage_x_int(const h16* __restrict__ x,
                                            const uint4 (&norm_words)[x_words_a_thread<K, WARPS>()], float eps,
                                            uint4 (&xi)[4][K / 32], float (&xscale)[K / 32], float (&xsum)[K / 32]) {
  constexpr int WORDS = x_words_a_thread<K, WARPS>();
  float v[WORDS][8];
  float norm_scale = 1.0f;
  if (NORM) {  // as the rms_norm kernel: rsqrt(mean(x²) + eps), then weight · half(x · scale)
    float squares = 0.0f;
#pragma unroll
    for (int t = 0; t < WORDS; ++t) {
      const int word = threadIdx.x + t * WARPS * 32;
      if (word < K / 8) {
        unpack8(reinterpret_cast<const uint4*>(x)[word], v[t]);
#pragma unroll
        for (int k = 0; k < 8; ++k) squares += v[t][k] * v[t][k];
      }
    }
    norm_scale = rms_scale_of_squares<K, WARPS>(squares, eps);
  }
#pragma unroll
  for (int t = 0; t < WORDS; ++t) {
    const int word = threadIdx.x + t * WARPS * 32;
    if (word >= K / 8) break;  // uniform over a warp: K / 8 is a multiple of 32
    if (NORM) {
      const u32 w[4] = {norm_words[t].x, norm_words[t].y, norm_words[t].z, norm_words[t].w};
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const h16 weight = (h16)(k & 1 ? w[k >> 1] >> 16 : w[k >> 1] & 0xffffu);  // value k of the word
        v[t][k] = normed(v[t][k], weight, norm_scale);
      }
    } else {
      unpack8(reinterpret_cast<const uint4*>(x)[word], v[t]);
    }
    float sum = 0.0f, amax = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      sum += v[t][k];
      amax = fmaxf(amax, fabsf(v[t][k]));
    }
    // The chunk's four words are four neighbouring lanes (word & 3 == lane & 3).
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    const float inv = amax > 0.0f ? __fdividef(32767.0f, amax) : 0.0f;
    int hi[8], lo[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int q = max(-32767, min(32767, __float2int_rn(v[t][k] * inv)));
      hi[k] = q >> 8;  // arithmetic: q = 256·hi + lo with lo in [0, 255]
      lo[k] = q & 255;
    }
    uint4 packed;
    packed.x = pack_bytes(hi[0], hi[2], hi[4], hi[6]);
    packed.y = pack_bytes(hi[1], hi[3], hi[5], hi[7]);
    packed.z = pack_bytes(lo[0], lo[2], lo[4], lo[6]);
    packed.w = pack_bytes(lo[1], lo[3], lo[5], lo[7]);
    xi[word & 3][word >> 2] = packed;
    if ((word & 3) == 0) {
      xsum[word >> 2] = sum;
      xscale[word >> 2] = amax / (32767.0f * 16.0f);  // chunk_dot_int16's products are 16 times
    }
  }
  __syncthreads();
}
__device__ __forceinline__ int dp4a_us(u32 a, u32 b, int c) { int d; asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c)); return d; }
__device__ __forceinline__ u32 dp4a_uu(u32 a, u32 b, u32 c) { u32 d; asm("dp4a.u32.u32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c)); return d; }
// A 16-byte chunk's 32 weights against x as stage_x_int left it: 16 · Σ nibble · q, exact. The
// odd nibbles are taken in place (the byte's high half, 16 × the nibble) rather than shifted down
// (a shift a word fewer), their sums kept apart and the even ones' scaled by 16 to meet them.
__device__ __forceinline__ int chunk_dot_int16(uint4 q, const uint4 (&xv)[4]) {
  const u32 w[4] = {q.x, q.y, q.z, q.w};
  int hi_even = 0, hi_odd = 0;
  u32 lo_even = 0, lo_odd = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const u32 even = w[j] & 0x0F0F0F0Fu, odd16 = w[j] & 0xF0F0F0F0u;
    hi_even = dp4a_us(even, xv[j].x, hi_even);
    hi_odd = dp4a_us(odd16, xv[j].y, hi_odd);
    lo_even = dp4a_uu(even, xv[j].z, lo_even);
    lo_odd = dp4a_uu(odd16, xv[j].w, lo_odd);
  }
  // |16·hi_even + hi_odd| <= 2·16·240·128 and 16·lo_even + lo_odd <= 2·16·240·255: under 2^28.
  return (hi_even * 16 + hi_odd) * 256 + (int)(lo_even * 16 + lo_odd);
}

// Eight 4-bit weights (one packed word) against x pre-paired as (x0,x4) (x1,x5) (x2,x6) (x3,x7):
// products in half2, summed in float.
__device__ __forceinline__ float word_dot(u32 q, uint4 xv) {
  u32 n[4];
  nibble_pairs(q, n);
  u32 acc = hmul2(n[0], xv.x);
  acc = hfma2(n[1], xv.y, acc);
  acc = hfma2(n[2], xv.z, acc);
  acc = hfma2(n[3], xv.w, acc);
  return h2sum(acc);
}

// y = dequantize(w) · x (+ y when RESID), one warp a row (R rows a warp), 8 warps a block.
// Each lane loads its rows' 16-byte chunks c = lane + 32i before anything else, so the loads are
// in flight while the block stages x in shared memory (with sums per 32 weights for the biases),
// and, launched to overlap, while the previous kernel finishes.
// The weights of a row group: its R rows' chunks c = lane + 32i, scales and biases.
template <int K, int R>
struct RowWeights {
  uint4 q[R][K / 1024];
  h16 s[R][K / 1024], b[R][K / 1024];
};
// Where a lane reads its row group's weights: its first row's chunk `lane` and that chunk's
// scale and bias. Advanced by whole groups of rows, so that each load is this base plus a
// constant (an immediate offset) instead of an address computed from the row each turn (a fifth
// of the looping GEMVs' instructions; with chunk_dot_int16, decode +1.6 % on an H100).
struct RowCursor {
  const uint4* w;
  const h16* s;
  const h16* b;
  __device__ __forceinline__ void advance(long long rows, int K) {
    w += rows * (K / 32);
    s += rows * (K / 64);
    b += rows * (K / 64);
  }
};
template <int K>
__device__ __forceinline__ RowCursor row_cursor(const uint4* w, const h16* scales, const h16* biases, int row0,
                                                int lane) {
  return {w + (size_t)row0 * (K / 32) + lane, scales + (size_t)row0 * (K / 64) + (lane >> 1),
          biases + (size_t)row0 * (K / 64) + (lane >> 1)};
}
template <int K, int R>
__device__ __forceinline__ void load_row_weights(RowWeights<K, R>& rw, const RowCursor& at) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int i = 0; i < K / 1024; ++i) {
      rw.q[r][i] = __ldcs(at.w + r * (K / 32) + 32 * i);
      rw.s[r][i] = at.s[r * (K / 64) + 16 * i];
      rw.b[r][i] = at.b[r * (K / 64) + 16 * i];
    }
  }
}

// A warp's R row sums (each lane's part in acc) written to y from row0 on: RESID adds them to y.
// GATED (R = 1): the block's second half of warps pass their up rows' sums to the first half
// through shared memory (two slots, alternating by group, so one barrier a group suffices), which
// write y[out] =
// silu(gate) · up as MLX's path rounds it: gate and up to half, silu rounded, the product rounded.
template <int R, bool RESID, bool GATED, int WARPS = 8>
__device__ __forceinline__ void write_rows(float (&acc)[R], h16* y, int row0, int lane, int out = 0, int parity = 0) {
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = warp_sum(acc[r]);
  if (GATED) {
    constexpr int HALF = WARPS / 2;
    __shared__ float up_sum[2][HALF];
    const int warp = threadIdx.x >> 5;
    if (warp >= HALF && lane == 0) up_sum[parity][warp - HALF] = acc[0];
    __syncthreads();
    if (warp < HALF && lane == 0) y[out] = f2h(silu_mul(round_h(acc[0]), round_h(up_sum[parity][warp])));
  } else if (lane < R) {
    float mine = acc[0];
#pragma unroll
    for (int r = 1; r < R; ++r)
      if (lane == r) mine = acc[r];
    const int row = row0 + lane;
    y[row] = RESID ? add_rounded(y[row], mine) : f2h(mine);
  }
}

// One row group: a warp's R rows, each lane's chunks c = lane + 32i against x as stage_x (DP4A:
// stage_x_int, with xscale) left it.
template <int K, int R, bool RESID, bool GATED, bool DP4A, int WARPS = 8>
__device__ __forceinline__ void row_group(const RowWeights<K, R>& w, const uint4 (&xs)[4][K / 32],
                                          const float (&xscale)[K / 32], const float (&xsum)[K / 32], h16* y,
                                          int row0, int lane, int out = 0, int parity = 0) {
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
#pragma unroll
  for (int i = 0; i < K / 1024; ++i) {
    const int c = lane + 32 * i;
    const uint4 xv[4] = {xs[0][c], xs[1][c], xs[2][c], xs[3][c]};
    const float total = xsum[c];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint4 q = w.q[r][i];
      if (DP4A) {
        // xscale holds a 16th of x's scale (chunk_dot_int16 gives 16 times the dot product).
        acc[r] = fmaf(h2f(w.s[r][i]) * xscale[c], (float)chunk_dot_int16(q, xv), acc[r]);
        acc[r] = fmaf(h2f(w.b[r][i]), total, acc[r]);
      } else {
        const float dot = word_dot(q.x, xv[0]) + word_dot(q.y, xv[1]) + word_dot(q.z, xv[2]) + word_dot(q.w, xv[3]);
        acc[r] += h2f(w.s[r][i]) * dot + h2f(w.b[r][i]) * total;
      }
    }
  }
  write_rows<R, RESID, GATED, WARPS>(acc, y, row0, lane, out, parity);
}

template <int K, int R, bool SWIGLU, bool RESID, bool NORM = false, bool GATED = false, bool LOOP = true,
          bool DP4A = false, int WARPS = 8>
__device__ __forceinline__ void gemv(const h16* __restrict__ x, const uint4* __restrict__ w,
                                     const h16* __restrict__ scales, const h16* __restrict__ biases, h16* y,
                                     const h16* __restrict__ norm_w = nullptr, float eps = 0.0f, int groups = 0) {
  const int lane = threadIdx.x & 31;
  static_assert(!GATED || (R == 1 && WARPS % 2 == 0), "a gated GEMV takes a gate row or an up row a warp, half each");
  // Row groups (a block's warps' rows) g = blockIdx.x, + gridDim.x, … < groups: x is staged once
  // a block, and the next group's weights load while this one's are used.
  if (groups <= 0) groups = gridDim.x;
  const int warp = threadIdx.x >> 5;
  constexpr int kOutsPerGroup = GATED ? WARPS / 2 : WARPS;  // y values a row group writes
  auto out_row = [&](int group) { return group * kOutsPerGroup + (GATED ? warp % kOutsPerGroup : warp); };
  auto first_row = [&](int group) {
    // Gated: the up rows start at M = groups · WARPS / 2.
    return GATED ? out_row(group) + (warp / kOutsPerGroup) * groups * kOutsPerGroup : out_row(group) * R;
  };
  int parity = 0;  // the gated write's shared-memory slot
  int group = blockIdx.x;
  // A block's next group is gridDim.x groups on: its rows that many groups' rows further.
  const long long rows_a_step = (long long)gridDim.x * kOutsPerGroup * R;
  RowCursor at = row_cursor<K>(w, scales, biases, first_row(group), lane);
  RowWeights<K, R> cur, next;
  load_row_weights(cur, at);
  uint4 norm_words[x_words_a_thread<K, WARPS>()];  // DP4A with NORM: the staging's norm weights
#pragma unroll
  for (int t = 0; t < x_words_a_thread<K, WARPS>(); ++t) {
    const int word = threadIdx.x + t * 32 * WARPS;
    if (DP4A && NORM && word < K / 8) norm_words[t] = reinterpret_cast<const uint4*>(norm_w)[word];
  }
  // The weights' loads are in flight; x (and y) come from the previous kernel.
  let_next_start();
  wait_previous();
  static_assert(!DP4A || !SWIGLU, "the integer staging takes x as it is or normalized");
  __shared__ uint4 xs[4][K / 32];
  __shared__ float xsum[K / 32];
  __shared__ float xscale[K / 32];  // DP4A only (unused, the compiler drops it)
  if (DP4A)
    stage_x_int<K, NORM, WARPS>(x, norm_words, eps, xs, xscale, xsum);
  else
    stage_x<K, SWIGLU, NORM, WARPS>(x, norm_w, eps, xs, xsum);
  // One set of weight registers: more blocks resident where a grid covers the groups. Also for
  // long rows (K = 8192: eight 16-byte loads a lane in flight), where two sets and x held in
  // registers over both spilled.
  if (!LOOP || K > GEMV_MAX_TWO_SET_K) {
    for (;; parity ^= 1) {
      row_group<K, R, RESID, GATED, DP4A, WARPS>(cur, xs, xscale, xsum, y, first_row(group), lane, out_row(group), parity);
      group += gridDim.x;
      if (group >= groups) return;
      at.advance(rows_a_step, K);
      load_row_weights(cur, at);
    }
  }
  // The two register sets take turns: a turn requests the group after this one into the other
  // set, then takes this one. Not a copy from one set to the other: that waited for the loads it
  // copied, so the group after next was requested only once the next one had arrived (decode
  // +2.9 % without it on an H200; bench/gpu/README.md, twelfth round).
  auto turn = [&](const RowWeights<K, R>& use, RowWeights<K, R>& fill) {
    const bool more = group + (int)gridDim.x < groups;
    if (more) {
      at.advance(rows_a_step, K);
      load_row_weights(fill, at);
    }
    row_group<K, R, RESID, GATED, DP4A, WARPS>(use, xs, xscale, xsum, y, first_row(group), lane, out_row(group), parity);
    group += gridDim.x;
    parity ^= 1;
    return more;
  };
  while (turn(cur, next) && turn(next, cur)) {
  }
}

)";

}  // namespace pensieve::kernels
