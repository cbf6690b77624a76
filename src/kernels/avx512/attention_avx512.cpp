// The attention block kernel compiled with AVX-512 (cmake/kernels.cmake sets the flags), plus a
// decode path for one query row per task (L = 1 without grouped-query sharing, Phi-3's case):
// a decode step reads every stored key and value once, so it should run at memory bandwidth,
// which leaves few instructions a byte.
//
// Quantized rows are read as 32-bit words, one vector lane a word, and code i of every word is
// turned into the float 1 + code/2^bits by a shift and one bitwise select that puts it into the
// mantissa of 1.0 — no conversion instruction and no cross-lane shuffle (which were the bound).
// With S and B a group's scale and bias, value = S·code + B = S'·(1 + code/2^bits) + B' where
// S' = 2^bits·S and B' = B − S'. Keys are not dequantized: q·value summed over a word's codes is
// S'·Σ q·(1 + code/2^bits) + B'·Σ q, with Σ q per lane computed once. Values add (p·S')·(…) to
// accumulators kept in registers and p·B' to one more. Queries and accumulators follow the
// words' order (dimension = word·codes_per_word + i); the output is put back in order once.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 intrinsic headers trip -W(maybe-)uninitialized (their `__Y` placeholders).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "kernels/attention_detail.h"

namespace pensieve::kernels::detail {

namespace attention_avx512 {
#include "kernels/attention_block.inl"
}  // namespace attention_avx512

namespace {

// [Σ a, Σ b, Σ c, Σ d] of four 16-lane vectors.
inline __m128 sum_each4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 abcd = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
                                    _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
  const __m256 halves = _mm256_add_ps(_mm512_castps512_ps256(abcd),
                                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(halves), _mm256_extractf128_ps(halves, 1));
}

// The first `n` lanes (n may be ≤ 0 or ≥ 16).
inline __mmask16 lanes_below(int n) {
  return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// exp_nonpositive of attention_block.inl on 16 lanes.
inline __m512 exp_nonpositive16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 poly = _mm512_set1_ps(1.9875691500e-4f);
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.3981999507e-3f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(8.3334519073e-3f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(4.1665795894e-2f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.6666665459e-1f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(poly, r), r, r), _mm512_set1_ps(1.0f));
  const __m512i pow2 = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(e, _mm512_castsi512_ps(pow2));
}

// Online softmax state of one row: scores of a block become weights (written back into p, 0 past
// n), and the factor the accumulators must be scaled by is returned.
struct Softmax {
  float max = attention_avx512::kMinScore, sum = 0.0f;

  float step(float* p, int n) {
    __m512 scores[kKeyBlock / 16];
    __m512 lane_max = _mm512_set1_ps(max);
    for (int v = 0; v < kKeyBlock / 16; ++v) {
      scores[v] = _mm512_mask_load_ps(_mm512_set1_ps(attention_avx512::kMinScore), lanes_below(n - 16 * v), p + 16 * v);
      lane_max = _mm512_max_ps(lane_max, scores[v]);
    }
    const float block_max = _mm512_reduce_max_ps(lane_max);
    const float correction = attention_avx512::exp_nonpositive(max - block_max);
    __m512 total = _mm512_setzero_ps();
    for (int v = 0; v < kKeyBlock / 16; ++v) {
      const __m512 e = _mm512_maskz_mov_ps(lanes_below(n - 16 * v),
                                           exp_nonpositive16(_mm512_sub_ps(scores[v], _mm512_set1_ps(block_max))));
      _mm512_store_ps(p + 16 * v, e);
      total = _mm512_add_ps(total, e);
    }
    sum = sum * correction + _mm512_reduce_add_ps(total);
    max = block_max;
    return correction;
  }
};

// Scores of keys [0, n) into p: key_lanes(j) gives key j's 16 lanes to be summed.
template <class KeyLanes>
[[gnu::always_inline]] inline void block_scores(int n, float* p, const KeyLanes& key_lanes) {
  int j = 0;
  for (; j + 4 <= n; j += 4)  // four horizontal sums share their shuffles
    _mm_store_ps(p + j, sum_each4(key_lanes(j), key_lanes(j + 1), key_lanes(j + 2), key_lanes(j + 3)));
  for (; j < n; ++j) p[j] = _mm512_reduce_add_ps(key_lanes(j));
}

// 16 stored floats as float32: loaded, or (float16, the CPU's default KV storage) converted.
[[gnu::always_inline]] inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
[[gnu::always_inline]] inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Float keys and values, T float (float32) or uint16_t (float16); C = head_dim / 16.
template <class T, int C>
void decode_row_float(const AttentionShape& s, int b, int h, int i) {
  const attention_avx512::Row row = attention_avx512::row_of(s, b, h, i);
  const AttentionSequence& seq = s.sequences[b];
  __m512 q[C];
  for (int c = 0; c < C; ++c) q[c] = _mm512_mul_ps(_mm512_loadu_ps(row.q + 16 * c), _mm512_set1_ps(s.scale));
  const T* keys = static_cast<const T*>(seq.keys.data) + static_cast<int64_t>(h) * seq.keys.head_stride * C * 16;
  const T* values = static_cast<const T*>(seq.values.data) + static_cast<int64_t>(h) * seq.values.head_stride * C * 16;
  // Keys and values are read in turns, a block of each: a block's values are prefetched while its
  // keys are scored, the next block's keys while its values are summed. The hardware prefetchers
  // alone ramp up again at each turn; with float16 (a block is 12 KB at head_dim 96) that held the
  // kernel to 65-80% of float32's GB/s (pensieve_attention_bench), with these at 85-95%.
  const auto prefetch_row = [](const T* at) {
    const char* bytes = reinterpret_cast<const char*>(at);
    for (int line = 0; line < C * 16 * static_cast<int>(sizeof(T)); line += 64) _mm_prefetch(bytes + line, _MM_HINT_T0);
  };
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  Softmax softmax;
  alignas(64) float p[kKeyBlock];
  for (int j0 = 0; j0 < row.visible; j0 += kKeyBlock) {
    const int n = row.visible - j0 < kKeyBlock ? row.visible - j0 : kKeyBlock;
    block_scores(n, p, [&](int j) {
      const T* k = keys + static_cast<int64_t>(j0 + j) * C * 16;
      prefetch_row(values + static_cast<int64_t>(j0 + j) * C * 16);
      __m512 t = _mm512_mul_ps(q[0], load16(k));
      for (int c = 1; c < C; ++c) t = _mm512_fmadd_ps(q[c], load16(k + 16 * c), t);
      return t;
    });
    const float correction = softmax.step(p, n);
    // A block's values are summed on their own, then added: long contexts add ~n/64 partial sums
    // instead of n terms into one accumulator (float32 rounding grows with the count).
    __m512 block[C];
    for (int c = 0; c < C; ++c) block[c] = _mm512_setzero_ps();
    for (int j = 0; j < n; ++j) {
      const T* v = values + static_cast<int64_t>(j0 + j) * C * 16;
      if (j0 + kKeyBlock + j < row.visible) prefetch_row(keys + static_cast<int64_t>(j0 + kKeyBlock + j) * C * 16);
      const __m512 pj = _mm512_set1_ps(p[j]);
      for (int c = 0; c < C; ++c) block[c] = _mm512_fmadd_ps(pj, load16(v + 16 * c), block[c]);
    }
    for (int c = 0; c < C; ++c) acc[c] = _mm512_fmadd_ps(acc[c], _mm512_set1_ps(correction), block[c]);
  }
  const __m512 inv = _mm512_set1_ps(softmax.sum > 0.0f ? 1.0f / softmax.sum : 0.0f);
  for (int c = 0; c < C; ++c) _mm512_storeu_ps(row.out + 16 * c, _mm512_mul_ps(acc[c], inv));
}

// Quantized rows of W 32-bit words (head_dim·BITS/32), in V vectors of 16 words (the last one
// partly masked); K codes a word.
template <int BITS, int W>
struct QuantRows {
  static constexpr int K = 32 / BITS;
  static constexpr int V = (W + 15) / 16;
  static constexpr int kHeadDim = W * K;
  static constexpr float kLift = static_cast<float>(1 << BITS);  // 2^bits

  // Vector v of a row's words; lanes past the row are 0 (plain loads: masked ones that reach
  // past a cache line are slow on some CPUs).
  [[gnu::always_inline]] static __m512i words(const uint32_t* row, int v) {
    const uint32_t* at = row + 16 * v;
    const int lanes = W - 16 * v;
    const auto quarter = [](const uint32_t* a) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(a)); };
    const auto half = [](const uint32_t* a) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)); };
    if (lanes >= 16) return _mm512_loadu_si512(at);
    if (lanes == 12) return _mm512_inserti32x4(_mm512_zextsi256_si512(half(at)), quarter(at + 8), 2);
    if (lanes == 8) return _mm512_zextsi256_si512(half(at));
    return _mm512_zextsi128_si512(quarter(at));  // 4
  }
  // 1 + code/2^bits of code i of each word: the code moved to the top of the mantissa, then
  // (word & code bits) | bits of 1.0 in one ternary-logic op.
  [[gnu::always_inline]] static __m512 lifted(__m512i w, int i) {
    constexpr int top = 23 - BITS;  // the code's lowest bit goes here
    const int shift = top - BITS * i;
    const __m512i moved = shift >= 0 ? _mm512_slli_epi32(w, static_cast<unsigned>(shift))
                                     : _mm512_srli_epi32(w, static_cast<unsigned>(-shift));
    const __m512i code_bits = _mm512_set1_epi32(((1 << BITS) - 1) << top);
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(moved, code_bits, _mm512_set1_epi32(0x3f800000), 0xea));
  }
};

// S' and B' of every lane of every vector for one row (groups: head_dim / group, ≤ 16; end: the
// number of scales in the buffer).
template <class R>
[[gnu::always_inline]] inline void lane_affine(const KvRows& rows, int64_t row, int groups, int64_t end, bool f16,
                                               const __m512i* group_of_lane, __m512* scale, __m512* bias) {
  __m512 sv, bv;
  if (groups == 1) {
    const float s1 = f16 ? _cvtsh_ss(static_cast<const uint16_t*>(rows.scales)[row])
                         : static_cast<const float*>(rows.scales)[row];
    const float b1 = f16 ? _cvtsh_ss(static_cast<const uint16_t*>(rows.biases)[row])
                         : static_cast<const float*>(rows.biases)[row];
    sv = _mm512_set1_ps(s1 * R::kLift);
    bv = _mm512_set1_ps(b1 - s1 * R::kLift);
    for (int v = 0; v < R::V; ++v) {
      scale[v] = sv;
      bias[v] = bv;
    }
    return;
  }
  // 16 scales from this row's first on (the lanes past `groups` are not used): a plain load
  // unless that would read past the buffer (masked loads are slow on some CPUs).
  const int64_t first = row * groups;
  const bool plain = first + 16 <= end;
  const __mmask16 m = lanes_below(groups);
  if (f16) {
    const auto* sp = static_cast<const uint16_t*>(rows.scales) + first;
    const auto* bp = static_cast<const uint16_t*>(rows.biases) + first;
    sv = _mm512_cvtph_ps(plain ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sp)) : _mm256_maskz_loadu_epi16(m, sp));
    bv = _mm512_cvtph_ps(plain ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp)) : _mm256_maskz_loadu_epi16(m, bp));
  } else {
    const auto* sp = static_cast<const float*>(rows.scales) + first;
    const auto* bp = static_cast<const float*>(rows.biases) + first;
    sv = plain ? _mm512_loadu_ps(sp) : _mm512_maskz_loadu_ps(m, sp);
    bv = plain ? _mm512_loadu_ps(bp) : _mm512_maskz_loadu_ps(m, bp);
  }
  sv = _mm512_mul_ps(sv, _mm512_set1_ps(R::kLift));
  bv = _mm512_sub_ps(bv, sv);
  for (int v = 0; v < R::V; ++v) {
    scale[v] = _mm512_permutexvar_ps(group_of_lane[v], sv);
    bias[v] = _mm512_permutexvar_ps(group_of_lane[v], bv);
  }
}

template <int BITS, int W>
void decode_row_quantized(const AttentionShape& s, int b, int h, int i) {
  using R = QuantRows<BITS, W>;
  constexpr int V = R::V, K = R::K, hd = R::kHeadDim;
  const attention_avx512::Row row = attention_avx512::row_of(s, b, h, i);
  const AttentionSequence& seq = s.sequences[b];
  const int groups = hd / s.group_size;

  // Queries in word order (lane m of vector v, code i: dimension (16v + m)·K + i), 0 past W.
  __m512 q[V][K], q_sum[V];
  __m512i group_of_lane[V];
  for (int v = 0; v < V; ++v) {
    alignas(64) float lanes[K][16] = {};
    alignas(64) int32_t group[16] = {};
    for (int m = 0; m < 16 && 16 * v + m < W; ++m) {
      for (int c = 0; c < K; ++c) lanes[c][m] = row.q[(16 * v + m) * K + c] * s.scale;
      group[m] = (16 * v + m) * K / s.group_size;
    }
    q_sum[v] = _mm512_setzero_ps();
    for (int c = 0; c < K; ++c) {
      q[v][c] = _mm512_load_ps(lanes[c]);
      q_sum[v] = _mm512_add_ps(q_sum[v], q[v][c]);
    }
    group_of_lane[v] = _mm512_load_si512(group);
  }

  const int64_t key0 = static_cast<int64_t>(h) * seq.keys.head_stride;
  const int64_t value0 = static_cast<int64_t>(h) * seq.values.head_stride;
  const uint32_t* keys = static_cast<const uint32_t*>(seq.keys.data) + key0 * W;
  const uint32_t* values = static_cast<const uint32_t*>(seq.values.data) + value0 * W;
  const int64_t key_scales_end = static_cast<int64_t>(s.kv_heads) * seq.keys.head_stride * groups;
  const int64_t value_scales_end = static_cast<int64_t>(s.kv_heads) * seq.values.head_stride * groups;

  __m512 acc[V][K], bias_acc[V];
  for (int v = 0; v < V; ++v) {
    for (int c = 0; c < K; ++c) acc[v][c] = _mm512_setzero_ps();
    bias_acc[v] = _mm512_setzero_ps();
  }
  Softmax softmax;
  alignas(64) float p[kKeyBlock];
  for (int j0 = 0; j0 < row.visible; j0 += kKeyBlock) {
    const int n = row.visible - j0 < kKeyBlock ? row.visible - j0 : kKeyBlock;
    block_scores(n, p, [&](int j) {
      __m512 scale[V], bias[V];
      lane_affine<R>(seq.keys, key0 + j0 + j, groups, key_scales_end, s.scales_f16, group_of_lane, scale, bias);
      const uint32_t* k = keys + static_cast<int64_t>(j0 + j) * W;
      __m512 total = _mm512_setzero_ps();
      for (int v = 0; v < V; ++v) {
        const __m512i w = R::words(k, v);
        __m512 even = _mm512_mul_ps(q[v][0], R::lifted(w, 0)), odd = _mm512_setzero_ps();
        for (int c = 1; c < K; ++c) {
          if (c % 2)
            odd = _mm512_fmadd_ps(q[v][c], R::lifted(w, c), odd);
          else
            even = _mm512_fmadd_ps(q[v][c], R::lifted(w, c), even);
        }
        total = _mm512_fmadd_ps(scale[v], _mm512_add_ps(even, odd), _mm512_fmadd_ps(bias[v], q_sum[v], total));
      }
      return total;
    });
    const float correction = softmax.step(p, n);
    __m512 block[V][K], block_bias[V];  // the block's own sums (see decode_row_float)
    for (int v = 0; v < V; ++v) {
      for (int c = 0; c < K; ++c) block[v][c] = _mm512_setzero_ps();
      block_bias[v] = _mm512_setzero_ps();
    }
    for (int j = 0; j < n; ++j) {
      __m512 scale[V], bias[V];
      lane_affine<R>(seq.values, value0 + j0 + j, groups, value_scales_end, s.scales_f16, group_of_lane, scale,
                     bias);
      const uint32_t* vr = values + static_cast<int64_t>(j0 + j) * W;
      const __m512 pj = _mm512_set1_ps(p[j]);
      for (int v = 0; v < V; ++v) {
        const __m512i w = R::words(vr, v);
        const __m512 ps = _mm512_mul_ps(pj, scale[v]);
        for (int c = 0; c < K; ++c) block[v][c] = _mm512_fmadd_ps(ps, R::lifted(w, c), block[v][c]);
        block_bias[v] = _mm512_fmadd_ps(pj, bias[v], block_bias[v]);
      }
    }
    const __m512 corr = _mm512_set1_ps(correction);
    for (int v = 0; v < V; ++v) {
      for (int c = 0; c < K; ++c) acc[v][c] = _mm512_fmadd_ps(acc[v][c], corr, block[v][c]);
      bias_acc[v] = _mm512_fmadd_ps(bias_acc[v], corr, block_bias[v]);
    }
  }

  const __m512 inv = _mm512_set1_ps(softmax.sum > 0.0f ? 1.0f / softmax.sum : 0.0f);
  for (int v = 0; v < V; ++v) {
    alignas(64) float lanes[K][16];
    for (int c = 0; c < K; ++c)
      _mm512_store_ps(lanes[c], _mm512_mul_ps(_mm512_add_ps(acc[v][c], bias_acc[v]), inv));
    for (int m = 0; m < 16 && 16 * v + m < W; ++m)
      for (int c = 0; c < K; ++c) row.out[(16 * v + m) * K + c] = lanes[c][m];
  }
}

constexpr int kFloatLanes = 16;
constexpr int kMaxScaleGroups = 16;
#include "kernels/attention_decode_dispatch.inl"

void avx512_task(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  if (!decode_task(s, b, kv_head, i0, i1)) attention_avx512::attention_task(s, b, kv_head, i0, i1, scratch);
}

}  // namespace

AttentionTaskFn avx512_attention_task() { return &avx512_task; }

}  // namespace pensieve::kernels::detail
