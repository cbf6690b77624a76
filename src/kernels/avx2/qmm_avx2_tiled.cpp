// AVX2 kernel for WeightLayout::tiled16: a 16-row tile is two 256-bit halves of 8 rows; each
// 32-bit lane gathers one row's dot product. vpmaddubsw + vpmaddwd stand in for AVX-512's
// vpdpbusd (4 byte products summed per lane).
#include "kernels/qmm_isa_common.inl"

namespace pensieve::kernels::detail {
namespace {

template <ScaleType ST>
inline __m256 load8(const void* base, int64_t i) {
  if constexpr (ST == ScaleType::f32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
    if constexpr (ST == ScaleType::f16) {
      return _mm256_cvtph_ps(h);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
}

inline __m256i broadcast4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, sizeof v);
  return _mm256_set1_epi32(v);
}

// Tiles [t0, t0 + NT) for activation rows [m0, m0 + MT).
template <int NT, int MT, int BITS, ScaleType ST>
void tiles(const QmmProblem& p, const QuantizedActivations& a, int64_t t0, int64_t m0) {
  const int64_t G = p.group_size, groups = p.K / G;
  const int64_t words = p.K * BITS / 32;
  const int64_t group_words = G * BITS / 32;
  constexpr int kValuesPerWord = 32 / BITS;
  const uint32_t* w = reinterpret_cast<const uint32_t*>(p.w);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT][2][MT];
  for (int i = 0; i < NT; ++i)
    for (int h = 0; h < 2; ++h)
      for (int m = 0; m < MT; ++m) acc[i][h][m] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    __m256i dot[NT][2][MT];
    for (int i = 0; i < NT; ++i)
      for (int h = 0; h < 2; ++h)
        for (int m = 0; m < MT; ++m) dot[i][h][m] = _mm256_setzero_si256();
    for (int64_t c = g * group_words; c < (g + 1) * group_words; ++c) {
      for (int i = 0; i < NT; ++i) {
        for (int h = 0; h < 2; ++h) {
          const __m256i wv = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(w + ((t0 + i) * words + c) * kTileRows + h * 8));
          if constexpr (BITS == 4) {
            // Pair sums stay ≤ 2·15·127 per vpmaddubsw, ≤ 4·15·127 after adding both nibbles.
            const __m256i lo = _mm256_and_si256(wv, nibble);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(wv, 4), nibble);
            for (int m = 0; m < MT; ++m) {
              const int8_t* xq = a.q + (m0 + m) * p.K + c * kValuesPerWord;
              const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast4(xq)),
                                                     _mm256_maddubs_epi16(hi, broadcast4(xq + 4)));
              dot[i][h][m] = _mm256_add_epi32(dot[i][h][m], _mm256_madd_epi16(pairs, ones));
            }
          } else {
            // 8-bit codes recentred to q - 128 for vpmaddubsw (see qmm_avx2.cpp).
            const __m256i centred = _mm256_xor_si256(wv, flip);
            const __m256i magnitude = _mm256_abs_epi8(centred);
            for (int m = 0; m < MT; ++m) {
              const int8_t* xq = a.q + (m0 + m) * p.K + c * kValuesPerWord;
              const __m256i pairs =
                  _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(broadcast4(xq), centred));
              dot[i][h][m] = _mm256_add_epi32(dot[i][h][m], _mm256_madd_epi16(pairs, ones));
            }
          }
        }
      }
    }
    for (int i = 0; i < NT; ++i) {
      for (int h = 0; h < 2; ++h) {
        const int64_t at = ((t0 + i) * groups + g) * kTileRows + h * 8;
        const __m256 s = load8<ST>(p.scales, at);
        __m256 b = load8<ST>(p.biases, at);
        if constexpr (BITS == 8) b = _mm256_fmadd_ps(s, _mm256_set1_ps(128.0f), b);
        for (int m = 0; m < MT; ++m) {
          const int64_t ag = (m0 + m) * groups + g;
          acc[i][h][m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[i][h][m]),
                                         _mm256_mul_ps(s, _mm256_set1_ps(a.scale[ag])), acc[i][h][m]);
          acc[i][h][m] = _mm256_fmadd_ps(b, _mm256_set1_ps(a.sum[ag]), acc[i][h][m]);
        }
      }
    }
  }
  for (int i = 0; i < NT; ++i)
    for (int h = 0; h < 2; ++h)
      for (int m = 0; m < MT; ++m)
        _mm256_storeu_ps(p.y + (m0 + m) * p.N + (t0 + i) * kTileRows + h * 8, acc[i][h][m]);
}

template <int NT, int MT, ScaleType ST>
void tiles_any_bits(const QmmProblem& p, const QuantizedActivations& a, int64_t t, int64_t m0) {
  with_bits(p.bits, [&]<int BITS>() { tiles<NT, MT, BITS, ST>(p, a, t, m0); });
}

}  // namespace

// 16 ymm registers: two activation rows per pass (one row: two tiles at once).
void compute_tiled_avx2(const QmmProblem& p, const QuantizedActivations& a, int64_t n0,
                        int64_t n1, int64_t m0, int64_t m1) {
  with_scale_type(p.scale_type, [&]<ScaleType ST>() {
    const int64_t t0 = n0 / kTileRows, t1 = n1 / kTileRows;
    int64_t m = m0;
    for (; m + 2 <= m1; m += 2)
      for (int64_t t = t0; t < t1; ++t) tiles_any_bits<1, 2, ST>(p, a, t, m);
    if (m < m1) {
      int64_t t = t0;
      for (; t + 2 <= t1; t += 2) tiles_any_bits<2, 1, ST>(p, a, t, m);
      for (; t < t1; ++t) tiles_any_bits<1, 1, ST>(p, a, t, m);
    }
  });
}

}  // namespace pensieve::kernels::detail
