// The attention block kernel compiled with AVX-512 (cmake/kernels.cmake sets the flags), plus a
// decode path for one query row per task (L = 1 without grouped-query sharing, Phi-3's case):
// a decode step reads every stored key and value once, so it is bound by memory bandwidth if the
// arithmetic per byte is small. Keys are not dequantized: q·(scale·code + bias) is computed as
// scale·(q·code) + bias·Σq per group; values add (p·scale)·code to the accumulator and p·bias to
// one number per group. The accumulator lives in registers for the whole pass.
// GCC 12's own AVX-512 intrinsic headers trip -Wmaybe-uninitialized (their `__Y` placeholders).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/attention_detail.h"

namespace pensieve::kernels::detail {

namespace attention_avx512 {
#include "kernels/attention_block.inl"
}  // namespace attention_avx512

namespace {

constexpr int kMaxGroups = 16;  // head_dim / group for head_dim ≤ 256 and groups of ≥ 16

inline float stored_scale(const void* base, int64_t i, bool f16) {
  return f16 ? _cvtsh_ss(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
}

// 16 8-bit codes → floats.
inline __m512 codes8(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// 32 4-bit codes (16 bytes; value 2i in the low nibble of byte i, 2i+1 in the high one) → the
// even-indexed values and the odd-indexed ones. Queries and the accumulator are kept in the same
// even/odd order, which spares any shuffle here.
inline void codes4(const uint8_t* p, __m512& even, __m512& odd) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i low = _mm_set1_epi8(0x0f);
  even = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, low)));
  odd = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), low)));
}

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

// Register d of vector c in the 4-bit order: pairs of vectors cover 32 values, even then odd.
inline int permuted_index(int c, int i) { return (c / 2) * 32 + 2 * i + (c % 2); }

// One query row (query `i` of head `h`, which alone uses KV head `kv_head`) over all its visible
// keys. C: head_dim / 16; BITS: 0 (float32 rows), 8 or 4.
template <int C, int BITS>
void decode_row(const AttentionShape& s, int b, int h, int kv_head, int i) {
  constexpr int hd = C * 16;
  const AttentionSequence& seq = s.sequences[b];
  const int pos = seq.offset + i;
  const int visible = pos + 1 < seq.length ? pos + 1 : seq.length;
  const float* qsrc = s.q + ((static_cast<int64_t>(b) * s.heads + h) * s.queries + i) * hd;

  __m512 q[C];
  alignas(64) float tmp[hd];
  for (int c = 0; c < C; ++c)
    for (int l = 0; l < 16; ++l) tmp[c * 16 + l] = qsrc[BITS == 4 ? permuted_index(c, l) : c * 16 + l] * s.scale;
  for (int c = 0; c < C; ++c) q[c] = _mm512_load_ps(tmp + c * 16);

  const int G = BITS ? s.group_size : hd;
  const int groups = hd / G;
  const int per_group = G / 16;  // vectors a group spans
  float qsum[kMaxGroups] = {};
  for (int g = 0; g < groups; ++g)
    for (int c = g * per_group; c < (g + 1) * per_group; ++c) qsum[g] += _mm512_reduce_add_ps(q[c]);

  const int64_t first = static_cast<int64_t>(kv_head) * seq.keys.head_stride;
  const int64_t vfirst = static_cast<int64_t>(kv_head) * seq.values.head_stride;
  constexpr int row_bytes = BITS ? hd * BITS / 8 : hd * 4;
  const uint8_t* kbase = static_cast<const uint8_t*>(seq.keys.data) + first * row_bytes;
  const uint8_t* vbase = static_cast<const uint8_t*>(seq.values.data) + vfirst * row_bytes;

  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  float bias_acc[kMaxGroups] = {};
  float running_max = attention_avx512::kMinScore, running_sum = 0.0f;
  alignas(64) float p[kKeyBlock];

  for (int j0 = 0; j0 < visible; j0 += kKeyBlock) {
    const int n = visible - j0 < kKeyBlock ? visible - j0 : kKeyBlock;
    // Key j's score as 16 lanes to be summed, plus the bias part (a number).
    const auto key_lanes = [&](int j, float& bias_part) {
      const uint8_t* row = kbase + static_cast<int64_t>(j0 + j) * row_bytes;
      bias_part = 0.0f;
      if constexpr (BITS == 0) {
        const float* k = reinterpret_cast<const float*>(row);
        __m512 t = _mm512_mul_ps(q[0], _mm512_loadu_ps(k));
        for (int c = 1; c < C; ++c) t = _mm512_fmadd_ps(q[c], _mm512_loadu_ps(k + 16 * c), t);
        return t;
      } else {
        const int64_t gi = (first + j0 + j) * groups;
        __m512 total = _mm512_setzero_ps();
        for (int g = 0; g < groups; ++g) {
          __m512 dot = _mm512_setzero_ps();
          for (int c = g * per_group; c < (g + 1) * per_group; c += (BITS == 4 ? 2 : 1)) {
            if constexpr (BITS == 8) {
              dot = _mm512_fmadd_ps(q[c], codes8(row + 16 * c), dot);
            } else {
              __m512 even, odd;
              codes4(row + 8 * c, even, odd);
              dot = _mm512_fmadd_ps(q[c + 1], odd, _mm512_fmadd_ps(q[c], even, dot));
            }
          }
          total = _mm512_fmadd_ps(dot, _mm512_set1_ps(stored_scale(seq.keys.scales, gi + g, s.scales_f16)), total);
          bias_part += stored_scale(seq.keys.biases, gi + g, s.scales_f16) * qsum[g];
        }
        return total;
      }
    };
    int jk = 0;
    for (; jk + 4 <= n; jk += 4) {  // four horizontal sums share their shuffles
      float bias[4];
      const __m512 t0 = key_lanes(jk, bias[0]), t1 = key_lanes(jk + 1, bias[1]);
      const __m512 t2 = key_lanes(jk + 2, bias[2]), t3 = key_lanes(jk + 3, bias[3]);
      _mm_store_ps(p + jk, _mm_add_ps(sum_each4(t0, t1, t2, t3), _mm_loadu_ps(bias)));
    }
    for (; jk < n; ++jk) {
      float bias;
      p[jk] = _mm512_reduce_add_ps(key_lanes(jk, bias)) + bias;
    }

    // Online softmax over the block, 16 scores a vector; lanes past n weigh exactly 0.
    __m512 scores[kKeyBlock / 16];
    __m512 lane_max = _mm512_set1_ps(running_max);
    for (int v = 0; v < kKeyBlock / 16; ++v) {
      scores[v] = _mm512_mask_load_ps(_mm512_set1_ps(attention_avx512::kMinScore), lanes_below(n - 16 * v), p + 16 * v);
      lane_max = _mm512_max_ps(lane_max, scores[v]);
    }
    const float block_max = _mm512_reduce_max_ps(lane_max);
    const float correction = attention_avx512::exp_nonpositive(running_max - block_max);
    __m512 sum = _mm512_setzero_ps();
    for (int v = 0; v < kKeyBlock / 16; ++v) {
      const __m512 e = _mm512_maskz_mov_ps(lanes_below(n - 16 * v),
                                           exp_nonpositive16(_mm512_sub_ps(scores[v], _mm512_set1_ps(block_max))));
      _mm512_store_ps(p + 16 * v, e);
      sum = _mm512_add_ps(sum, e);
    }
    const float block_sum = _mm512_reduce_add_ps(sum);
    running_sum = running_sum * correction + block_sum;
    running_max = block_max;
    // The block's values are summed on their own, then added: long contexts add ~n/64 partial
    // sums instead of n terms into one accumulator (float32 rounding grows with the count).
    __m512 block[C];
    for (int c = 0; c < C; ++c) block[c] = _mm512_setzero_ps();
    float block_bias[kMaxGroups] = {};
    for (int j = 0; j < n; ++j) {
      const uint8_t* row = vbase + static_cast<int64_t>(j0 + j) * row_bytes;
      if constexpr (BITS == 0) {
        const float* v = reinterpret_cast<const float*>(row);
        const __m512 pj = _mm512_set1_ps(p[j]);
        for (int c = 0; c < C; ++c) block[c] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 16 * c), block[c]);
      } else {
        const int64_t gi = (vfirst + j0 + j) * groups;
        for (int g = 0; g < groups; ++g) {
          const __m512 ps = _mm512_set1_ps(p[j] * stored_scale(seq.values.scales, gi + g, s.scales_f16));
          block_bias[g] += p[j] * stored_scale(seq.values.biases, gi + g, s.scales_f16);
          for (int c = g * per_group; c < (g + 1) * per_group; c += (BITS == 4 ? 2 : 1)) {
            if constexpr (BITS == 8) {
              block[c] = _mm512_fmadd_ps(ps, codes8(row + 16 * c), block[c]);
            } else {
              __m512 even, odd;
              codes4(row + 8 * c, even, odd);
              block[c] = _mm512_fmadd_ps(ps, even, block[c]);
              block[c + 1] = _mm512_fmadd_ps(ps, odd, block[c + 1]);
            }
          }
        }
      }
    }
    const __m512 corr = _mm512_set1_ps(correction);
    for (int c = 0; c < C; ++c) acc[c] = _mm512_fmadd_ps(acc[c], corr, block[c]);
    for (int g = 0; g < groups; ++g) bias_acc[g] = bias_acc[g] * correction + block_bias[g];
  }

  const float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  float* dst = s.out + ((static_cast<int64_t>(b) * s.queries + i) * s.heads + h) * hd;
  for (int c = 0; c < C; ++c) _mm512_store_ps(tmp + c * 16, _mm512_mul_ps(acc[c], _mm512_set1_ps(inv)));
  for (int c = 0; c < C; ++c)
    for (int l = 0; l < 16; ++l) {
      const int d = BITS == 4 ? permuted_index(c, l) : c * 16 + l;
      dst[d] = tmp[c * 16 + l] + bias_acc[d / G] * inv;
    }
}

template <int C>
bool decode_row_for_bits(const AttentionShape& s, int b, int h, int kv_head, int i) {
  if (s.bits == 0)
    decode_row<C, 0>(s, b, h, kv_head, i);
  else if (s.bits == 8 && s.group_size % 16 == 0)
    decode_row<C, 8>(s, b, h, kv_head, i);
  else if (s.bits == 4 && s.group_size % 32 == 0)
    decode_row<C, 4>(s, b, h, kv_head, i);
  else
    return false;
  return true;
}

// Whether the one-row path took this task.
bool decode_task(const AttentionShape& s, int b, int kv_head, int i0, int i1) {
  if (i1 - i0 != 1 || s.heads != s.kv_heads) return false;
  switch (s.head_dim) {
    case 32: return decode_row_for_bits<2>(s, b, kv_head, kv_head, i0);
    case 64: return decode_row_for_bits<4>(s, b, kv_head, kv_head, i0);
    case 96: return decode_row_for_bits<6>(s, b, kv_head, kv_head, i0);
    case 128: return decode_row_for_bits<8>(s, b, kv_head, kv_head, i0);
    default: return false;
  }
}

void avx512_task(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  if (!decode_task(s, b, kv_head, i0, i1)) attention_avx512::attention_task(s, b, kv_head, i0, i1, scratch);
}

}  // namespace

AttentionTaskFn avx512_attention_task() { return &avx512_task; }

}  // namespace pensieve::kernels::detail
