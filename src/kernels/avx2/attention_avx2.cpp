// The attention block kernel compiled with AVX2, FMA and F16C (cmake/kernels.cmake sets the flags),
// plus a decode path for one query row per task (L = 1 without grouped-query sharing, Phi-3's
// case) over float16, float32 or 8/4-bit quantized keys and values. The block kernel converts
// (or dequantizes) and transposes every key into a scratch block before scoring it, which held
// AVX2 CPUs to 1-10 GB/s of KV (bench/README.md); a decode step reads every stored key and value
// once, so it should run at memory bandwidth. Here keys are scored straight from the cache (float
// keys four at a time, their dot products summed across lanes together; quantized ones on their
// codes, as the AVX-512 path does) and values summed into accumulators held in registers.
#include <immintrin.h>

#include "kernels/attention_detail.h"

namespace pensieve::kernels::detail {

namespace attention_avx2 {
#include "kernels/attention_block.inl"
}  // namespace attention_avx2

namespace {

using attention_avx2::kMinScore;

// [Σ a, Σ b, Σ c, Σ d] of four 8-lane vectors.
inline __m128 sum_each4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

inline float max8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

// All-ones in the first `n` lanes (n may be ≤ 0 or ≥ 8).
inline __m256 lanes_below(int n) {
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}

// exp_nonpositive of attention_block.inl on 8 lanes.
inline __m256 exp_nonpositive8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
  __m256 poly = _mm256_set1_ps(1.9875691500e-4f);
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.3981999507e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(8.3334519073e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(4.1665795894e-2f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.6666665459e-1f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(poly, r), r, r), _mm256_set1_ps(1.0f));
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(e, _mm256_castsi256_ps(pow2));
}

// Online softmax state of one row: scores of a block become weights (written back into p, 0 past
// n), and the factor the accumulators must be scaled by is returned.
struct Softmax {
  float max = kMinScore, sum = 0.0f;

  float step(float* p, int n) {
    constexpr int V = kKeyBlock / 8;
    __m256 scores[V];
    __m256 lane_max = _mm256_set1_ps(max);
    for (int v = 0; v < V; ++v) {
      scores[v] = _mm256_blendv_ps(_mm256_set1_ps(kMinScore), _mm256_loadu_ps(p + 8 * v), lanes_below(n - 8 * v));
      lane_max = _mm256_max_ps(lane_max, scores[v]);
    }
    const float block_max = max8(lane_max);
    const float correction = attention_avx2::exp_nonpositive(max - block_max);
    __m256 total = _mm256_setzero_ps();
    for (int v = 0; v < V; ++v) {
      const __m256 e = _mm256_and_ps(lanes_below(n - 8 * v),
                                     exp_nonpositive8(_mm256_sub_ps(scores[v], _mm256_set1_ps(block_max))));
      _mm256_storeu_ps(p + 8 * v, e);
      total = _mm256_add_ps(total, e);
    }
    sum = sum * correction + sum8(total);
    max = block_max;
    return correction;
  }
};

// 8 stored floats as float32: loaded, or (float16, the CPU's default KV storage) converted.
[[gnu::always_inline]] inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
[[gnu::always_inline]] inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// T float (float32) or uint16_t (float16); C = head_dim / 8. Sixteen registers hold neither the
// query nor the accumulators of a 96-wide head next to the work, so both stay in L1 and the
// registers go to four keys' partial scores, or to one value pass's accumulators (12 at most:
// wider heads take their values in two passes over the block, the second from the cache).
template <class T, int C>
void decode_row_float(const AttentionShape& s, int b, int h, int i) {
  constexpr int hd = 8 * C;
  const attention_avx2::Row row = attention_avx2::row_of(s, b, h, i);
  const AttentionSequence& seq = s.sequences[b];
  alignas(32) float q[hd], acc[hd];
  for (int d = 0; d < hd; ++d) {
    q[d] = row.q[d] * s.scale;
    acc[d] = 0.0f;
  }
  const T* keys = static_cast<const T*>(seq.keys.data) + static_cast<int64_t>(h) * seq.keys.head_stride * hd;
  const T* values = static_cast<const T*>(seq.values.data) + static_cast<int64_t>(h) * seq.values.head_stride * hd;
  // As the AVX-512 path: a block's values are prefetched while its keys are scored, the next
  // block's keys while its values are summed (the hardware prefetchers ramp up again at each turn).
  const auto prefetch_row = [](const T* at) {
    const char* bytes = reinterpret_cast<const char*>(at);
    for (int line = 0; line < hd * static_cast<int>(sizeof(T)); line += 64) _mm_prefetch(bytes + line, _MM_HINT_T0);
  };
  Softmax softmax;
  alignas(32) float p[kKeyBlock];
  for (int j0 = 0; j0 < row.visible; j0 += kKeyBlock) {
    const int n = row.visible - j0 < kKeyBlock ? row.visible - j0 : kKeyBlock;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const T* k = keys + static_cast<int64_t>(j0 + j) * hd;
      for (int r = 0; r < 4; ++r) prefetch_row(values + static_cast<int64_t>(j0 + j + r) * hd);
      __m256 t[4];
      for (int r = 0; r < 4; ++r) t[r] = _mm256_mul_ps(_mm256_load_ps(q), load8(k + r * hd));
      for (int c = 1; c < C; ++c) {
        const __m256 qc = _mm256_load_ps(q + 8 * c);
        for (int r = 0; r < 4; ++r) t[r] = _mm256_fmadd_ps(qc, load8(k + r * hd + 8 * c), t[r]);
      }
      _mm_store_ps(p + j, sum_each4(t[0], t[1], t[2], t[3]));
    }
    for (; j < n; ++j) {
      const T* k = keys + static_cast<int64_t>(j0 + j) * hd;
      prefetch_row(values + static_cast<int64_t>(j0 + j) * hd);
      __m256 t = _mm256_mul_ps(_mm256_load_ps(q), load8(k));
      for (int c = 1; c < C; ++c) t = _mm256_fmadd_ps(_mm256_load_ps(q + 8 * c), load8(k + 8 * c), t);
      p[j] = sum8(t);
    }
    const __m256 correction = _mm256_set1_ps(softmax.step(p, n));
    // A block's values are summed on their own, then added (see the AVX-512 path).
    constexpr int kPass = C <= 12 ? C : C / 2;
    static_assert(C % kPass == 0, "value passes of equal width");
    for (int c0 = 0; c0 < C; c0 += kPass) {
      __m256 block[kPass];
      for (int c = 0; c < kPass; ++c) block[c] = _mm256_setzero_ps();
      for (int jj = 0; jj < n; ++jj) {
        const T* v = values + static_cast<int64_t>(j0 + jj) * hd + 8 * c0;
        if (c0 == 0 && j0 + kKeyBlock + jj < row.visible) prefetch_row(keys + static_cast<int64_t>(j0 + kKeyBlock + jj) * hd);
        const __m256 pj = _mm256_set1_ps(p[jj]);
        for (int c = 0; c < kPass; ++c) block[c] = _mm256_fmadd_ps(pj, load8(v + 8 * c), block[c]);
      }
      for (int c = 0; c < kPass; ++c) {
        float* a = acc + 8 * (c0 + c);
        _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_load_ps(a), correction, block[c]));
      }
    }
  }
  const __m256 inv = _mm256_set1_ps(softmax.sum > 0.0f ? 1.0f / softmax.sum : 0.0f);
  for (int c = 0; c < C; ++c) _mm256_storeu_ps(row.out + 8 * c, _mm256_mul_ps(_mm256_load_ps(acc + 8 * c), inv));
}

// Quantized rows of W 32-bit words (head_dim·BITS/32) in V vectors of 8 words (the last may hold
// 4); K codes a word. As the AVX-512 path: code i of every word becomes the float
// 1 + code/2^bits by a shift and a select of its bits into 1.0's mantissa (and/or here: AVX2 has
// no ternary-logic op), with value = S'·(1 + code/2^bits) + B', S' = 2^bits·S, B' = B − S'.
// Keys are scored on their codes: S'·Σ q·(1 + code/2^bits) + B'·Σ q.
template <int BITS, int W>
struct QuantRows {
  static constexpr int K = 32 / BITS;
  static constexpr int V = (W + 7) / 8;
  static constexpr int kHeadDim = W * K;
  static constexpr float kLift = static_cast<float>(1 << BITS);

  [[gnu::always_inline]] static __m256i words(const uint32_t* row, int v) {
    const uint32_t* at = row + 8 * v;
    if (W - 8 * v >= 8) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
    return _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(at)));  // 4 words
  }
  [[gnu::always_inline]] static __m256 lifted(__m256i w, int i) {
    constexpr int top = 23 - BITS;  // the code's lowest bit goes here
    const int shift = top - BITS * i;
    const __m256i moved = shift >= 0 ? _mm256_slli_epi32(w, shift) : _mm256_srli_epi32(w, -shift);
    const __m256i code = _mm256_and_si256(moved, _mm256_set1_epi32(((1 << BITS) - 1) << top));
    return _mm256_castsi256_ps(_mm256_or_si256(code, _mm256_set1_epi32(0x3f800000)));
  }
};

// S' and B' of each of a row's groups (groups = head_dim / group ≤ 8; lanes past them unused);
// end: the number of scales in the buffer. A plain 8-scale load unless it would read past it.
template <class R>
[[gnu::always_inline]] inline void row_affine(const KvRows& rows, int64_t row, int groups, int64_t end, bool f16,
                                              __m256& scale, __m256& bias) {
  const int64_t first = row * groups;
  __m256 sv, bv;
  if (first + 8 <= end) {
    if (f16) {
      sv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(rows.scales) + first)));
      bv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(rows.biases) + first)));
    } else {
      sv = _mm256_loadu_ps(static_cast<const float*>(rows.scales) + first);
      bv = _mm256_loadu_ps(static_cast<const float*>(rows.biases) + first);
    }
  } else {
    alignas(32) float s8[8] = {}, b8[8] = {};
    for (int g = 0; g < groups; ++g) {
      s8[g] = f16 ? _cvtsh_ss(static_cast<const uint16_t*>(rows.scales)[first + g])
                  : static_cast<const float*>(rows.scales)[first + g];
      b8[g] = f16 ? _cvtsh_ss(static_cast<const uint16_t*>(rows.biases)[first + g])
                  : static_cast<const float*>(rows.biases)[first + g];
    }
    sv = _mm256_load_ps(s8);
    bv = _mm256_load_ps(b8);
  }
  scale = _mm256_mul_ps(sv, _mm256_set1_ps(R::kLift));
  bias = _mm256_sub_ps(bv, scale);
}

// The same for the lanes of one vector of words: each lane takes its group's.
[[gnu::always_inline]] inline void lane_affine(__m256 row_scale, __m256 row_bias, __m256i group_of_lane,
                                               __m256& scale, __m256& bias) {
  scale = _mm256_permutevar8x32_ps(row_scale, group_of_lane);
  bias = _mm256_permutevar8x32_ps(row_bias, group_of_lane);
}

template <int BITS, int W>
void decode_row_quantized(const AttentionShape& s, int b, int h, int i) {
  using R = QuantRows<BITS, W>;
  constexpr int V = R::V, K = R::K, hd = R::kHeadDim;
  const attention_avx2::Row row = attention_avx2::row_of(s, b, h, i);
  const AttentionSequence& seq = s.sequences[b];
  const int groups = hd / s.group_size;

  // Queries in word order (lane m of vector v, code c: dimension (8v + m)·K + c), 0 past W; in
  // L1, as are the accumulators (sixteen registers hold neither next to the work).
  alignas(32) float q[V][K][8] = {}, q_sum[V][8] = {}, acc[V][K][8] = {}, bias_acc[V][8] = {};
  __m256i group_of_lane[V];
  for (int v = 0; v < V; ++v) {
    alignas(32) int32_t group[8] = {};
    for (int m = 0; m < 8 && 8 * v + m < W; ++m) {
      for (int c = 0; c < K; ++c) {
        q[v][c][m] = row.q[(8 * v + m) * K + c] * s.scale;
        q_sum[v][m] += q[v][c][m];
      }
      group[m] = (8 * v + m) * K / s.group_size;
    }
    group_of_lane[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(group));
  }

  const int64_t key0 = static_cast<int64_t>(h) * seq.keys.head_stride;
  const int64_t value0 = static_cast<int64_t>(h) * seq.values.head_stride;
  const uint32_t* keys = static_cast<const uint32_t*>(seq.keys.data) + key0 * W;
  const uint32_t* values = static_cast<const uint32_t*>(seq.values.data) + value0 * W;
  const int64_t key_scales_end = static_cast<int64_t>(s.kv_heads) * seq.keys.head_stride * groups;
  const int64_t value_scales_end = static_cast<int64_t>(s.kv_heads) * seq.values.head_stride * groups;
  Softmax softmax;
  alignas(32) float p[kKeyBlock];
  for (int j0 = 0; j0 < row.visible; j0 += kKeyBlock) {
    const int n = row.visible - j0 < kKeyBlock ? row.visible - j0 : kKeyBlock;
    for (int j = 0; j < n; ++j) {
      const uint32_t* k = keys + static_cast<int64_t>(j0 + j) * W;
      _mm_prefetch(reinterpret_cast<const char*>(values + static_cast<int64_t>(j0 + j) * W), _MM_HINT_T0);
      __m256 total = _mm256_setzero_ps(), row_scale, row_bias;
      row_affine<R>(seq.keys, key0 + j0 + j, groups, key_scales_end, s.scales_f16, row_scale, row_bias);
      for (int v = 0; v < V; ++v) {
        __m256 scale, bias;
        lane_affine(row_scale, row_bias, group_of_lane[v], scale, bias);
        const __m256i w = R::words(k, v);
        __m256 even = _mm256_mul_ps(_mm256_load_ps(q[v][0]), R::lifted(w, 0)), odd = _mm256_setzero_ps();
        for (int c = 1; c < K; ++c) {
          if (c % 2)
            odd = _mm256_fmadd_ps(_mm256_load_ps(q[v][c]), R::lifted(w, c), odd);
          else
            even = _mm256_fmadd_ps(_mm256_load_ps(q[v][c]), R::lifted(w, c), even);
        }
        total = _mm256_fmadd_ps(scale, _mm256_add_ps(even, odd),
                                _mm256_fmadd_ps(bias, _mm256_load_ps(q_sum[v]), total));
      }
      p[j] = sum8(total);
    }
    const __m256 correction = _mm256_set1_ps(softmax.step(p, n));
    // One vector of words at a time: its K accumulators and the bias one in registers.
    for (int v = 0; v < V; ++v) {
      __m256 block[K], block_bias = _mm256_setzero_ps();
      for (int c = 0; c < K; ++c) block[c] = _mm256_setzero_ps();
      for (int j = 0; j < n; ++j) {
        if (v == 0 && j0 + kKeyBlock + j < row.visible)
          _mm_prefetch(reinterpret_cast<const char*>(keys + static_cast<int64_t>(j0 + kKeyBlock + j) * W), _MM_HINT_T0);
        __m256 scale, bias, row_scale, row_bias;
        row_affine<R>(seq.values, value0 + j0 + j, groups, value_scales_end, s.scales_f16, row_scale, row_bias);
        lane_affine(row_scale, row_bias, group_of_lane[v], scale, bias);
        const __m256i w = R::words(values + static_cast<int64_t>(j0 + j) * W, v);
        const __m256 pj = _mm256_set1_ps(p[j]);
        const __m256 ps = _mm256_mul_ps(pj, scale);
        for (int c = 0; c < K; ++c) block[c] = _mm256_fmadd_ps(ps, R::lifted(w, c), block[c]);
        block_bias = _mm256_fmadd_ps(pj, bias, block_bias);
      }
      for (int c = 0; c < K; ++c)
        _mm256_store_ps(acc[v][c], _mm256_fmadd_ps(_mm256_load_ps(acc[v][c]), correction, block[c]));
      _mm256_store_ps(bias_acc[v], _mm256_fmadd_ps(_mm256_load_ps(bias_acc[v]), correction, block_bias));
    }
  }

  const float inv = softmax.sum > 0.0f ? 1.0f / softmax.sum : 0.0f;
  for (int v = 0; v < V; ++v)
    for (int m = 0; m < 8 && 8 * v + m < W; ++m)
      for (int c = 0; c < K; ++c) row.out[(8 * v + m) * K + c] = (acc[v][c][m] + bias_acc[v][m]) * inv;
}

constexpr int kFloatLanes = 8;
constexpr int kMaxScaleGroups = 8;
#include "kernels/attention_decode_dispatch.inl"

void avx2_task(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  if (!decode_task(s, b, kv_head, i0, i1)) attention_avx2::attention_task(s, b, kv_head, i0, i1, scratch);
}

}  // namespace

AttentionTaskFn avx2_attention_task() { return &avx2_task; }

}  // namespace pensieve::kernels::detail
