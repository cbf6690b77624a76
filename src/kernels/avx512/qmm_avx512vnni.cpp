// AVX-512 VNNI kernels: vpdpbusd multiplies unsigned weight codes (4- or 8-bit alike) by int8
// activations and accumulates in int32 without saturation, 64 values per instruction. Groups
// must be multiples of 64 (32 goes to the AVX2 variant).
// GCC 12's own AVX-512 intrinsic headers trip -Wmaybe-uninitialized (their `__Y` placeholders).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/qmm_isa_common.inl"

namespace pensieve::kernels::detail {
namespace {

template <int MT, int BITS, ScaleType ST>
void rows(const QmmProblem& p, const QuantizedActivations& a, int64_t n, int64_t m0) {
  const int64_t G = p.group_size, groups = p.K / G;
  const uint8_t* w = p.w + n * (p.K * BITS / 8);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512 acc[MT];
  float bias_acc[MT];
  for (int m = 0; m < MT; ++m) acc[m] = _mm512_setzero_ps(), bias_acc[m] = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    __m512i dot[MT];
    for (int m = 0; m < MT; ++m) dot[m] = _mm512_setzero_si512();
    for (int64_t k = g * G; k < (g + 1) * G; k += 64) {
      __m512i codes;
      if constexpr (BITS == 4) {
        // Low nibbles (even values) in the lower half, high nibbles (odd values) in the upper.
        const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k / 2));
        codes = _mm512_and_si512(
            _mm512_inserti64x4(_mm512_castsi256_si512(packed), _mm256_srli_epi16(packed, 4), 1),
            nibble);
      } else {
        codes = _mm512_loadu_si512(w + k);
      }
      for (int m = 0; m < MT; ++m) {
        dot[m] = _mm512_dpbusd_epi32(dot[m], codes, _mm512_loadu_si512(a.q + (m0 + m) * p.K + k));
      }
    }
    const float s = load_scale<ST>(p.scales, n * groups + g);
    const float b = load_scale<ST>(p.biases, n * groups + g);
    for (int m = 0; m < MT; ++m) {
      const int64_t ag = (m0 + m) * groups + g;
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[m]), _mm512_set1_ps(s * a.scale[ag]), acc[m]);
      bias_acc[m] += b * a.sum[ag];
    }
  }
  for (int m = 0; m < MT; ++m) p.y[(m0 + m) * p.N + n] = _mm512_reduce_add_ps(acc[m]) + bias_acc[m];
}

constexpr int kRowTile = 8;

void compute(const QmmProblem& p, const QuantizedActivations& a, int64_t n0, int64_t n1,
             int64_t m0, int64_t m1) {
  with_scale_type(p.scale_type, [&]<ScaleType ST>() {
    for (int64_t m = m0; m < m1; m += kRowTile) {
      with_row_count<kRowTile>(m1 - m < kRowTile ? m1 - m : kRowTile, [&]<int MT>() {
        with_bits(p.bits, [&]<int BITS>() {
          for (int64_t n = n0; n < n1; ++n) rows<MT, BITS, ST>(p, a, n, m);
        });
      });
    }
  });
}

// ---- WeightLayout::tiled16: one register = one 32-bit word of each of 16 rows ----

template <ScaleType ST>
inline __m512 load16(const void* base, int64_t i) {
  if constexpr (ST == ScaleType::f32) {
    return _mm512_loadu_ps(static_cast<const float*>(base) + i);
  } else {
    const __m256i h =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i));
    if constexpr (ST == ScaleType::f16) {
      return _mm512_cvtph_ps(h);
    } else {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
}

inline __m512i broadcast4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, sizeof v);
  return _mm512_set1_epi32(v);
}

// Tiles [t0, t0 + NT) (16 outputs each) for activation rows [m0, m0 + MT). Each (tile, row) pair
// keeps two int32 accumulators (low and high nibbles, or alternate words for 8-bit) so that
// consecutive vpdpbusd do not wait on each other; with one activation row, several tiles at once
// give the same independence.
constexpr int64_t kPrefetchWords = 32;  // 64-byte lines ahead in each tile's stream (16-row tiles of 4-byte words)

template <int NT, int MT, int BITS, ScaleType ST>
void tiles(const QmmProblem& p, const QuantizedActivations& a, int64_t t0, int64_t m0) {
  const int64_t G = p.group_size, groups = p.K / G;
  const int64_t words = p.K * BITS / 32;       // per row
  const int64_t group_words = G * BITS / 32;  // per row and group
  constexpr int kValuesPerWord = 32 / BITS;
  const uint32_t* w = reinterpret_cast<const uint32_t*>(p.w);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512 acc[NT][MT];
  for (int i = 0; i < NT; ++i)
    for (int m = 0; m < MT; ++m) acc[i][m] = _mm512_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    __m512i dot[NT][MT][2];
    for (int i = 0; i < NT; ++i)
      for (int m = 0; m < MT; ++m) dot[i][m][0] = dot[i][m][1] = _mm512_setzero_si512();
    for (int64_t c = g * group_words; c < (g + 1) * group_words; ++c) {
      for (int i = 0; i < NT; ++i) {
        // Each tile is a sequential stream that restarts every few tens of KB: fetched ahead here
        // (past a tile's end, into the next one's start) rather than left to the prefetchers.
        _mm_prefetch(reinterpret_cast<const char*>(w + ((t0 + i) * words + c + kPrefetchWords) * kTileRows), _MM_HINT_T0);
        const __m512i wv = _mm512_loadu_si512(w + ((t0 + i) * words + c) * kTileRows);
        if constexpr (BITS == 4) {
          // Low nibbles are a word's even-indexed values, high nibbles its odd ones; the
          // activations were stored evens-then-odds per 8 to match.
          const __m512i lo = _mm512_and_si512(wv, nibble);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(wv, 4), nibble);
          for (int m = 0; m < MT; ++m) {
            const int8_t* xq = a.q + (m0 + m) * p.K + c * kValuesPerWord;
            dot[i][m][0] = _mm512_dpbusd_epi32(dot[i][m][0], lo, broadcast4(xq));
            dot[i][m][1] = _mm512_dpbusd_epi32(dot[i][m][1], hi, broadcast4(xq + 4));
          }
        } else {
          for (int m = 0; m < MT; ++m) {
            const int8_t* xq = a.q + (m0 + m) * p.K + c * kValuesPerWord;
            dot[i][m][c & 1] = _mm512_dpbusd_epi32(dot[i][m][c & 1], wv, broadcast4(xq));
          }
        }
      }
    }
    for (int i = 0; i < NT; ++i) {
      const __m512 s = load16<ST>(p.scales, ((t0 + i) * groups + g) * kTileRows);
      const __m512 b = load16<ST>(p.biases, ((t0 + i) * groups + g) * kTileRows);
      for (int m = 0; m < MT; ++m) {
        const int64_t ag = (m0 + m) * groups + g;
        const __m512 d = _mm512_cvtepi32_ps(_mm512_add_epi32(dot[i][m][0], dot[i][m][1]));
        acc[i][m] = _mm512_fmadd_ps(d, _mm512_mul_ps(s, _mm512_set1_ps(a.scale[ag])), acc[i][m]);
        acc[i][m] = _mm512_fmadd_ps(b, _mm512_set1_ps(a.sum[ag]), acc[i][m]);
      }
    }
  }
  for (int i = 0; i < NT; ++i)
    for (int m = 0; m < MT; ++m)
      _mm512_storeu_ps(p.y + (m0 + m) * p.N + (t0 + i) * kTileRows, acc[i][m]);
}

// One tile of 4-bit weights for one activation row (decode): the task's tiles one after another
// are one sequential stream, where several tiles a pass would be as many streams that restart
// every tile. Four accumulators (low and high nibbles of even and odd words) keep consecutive
// vpdpbusd independent instead.
template <ScaleType ST>
void tile_one_row(const QmmProblem& p, const QuantizedActivations& a, int64_t t, int64_t m) {
  const int64_t G = p.group_size, groups = p.K / G;
  const int64_t words = p.K / 8, group_words = G / 8;  // 8 values a word
  const uint32_t* w = reinterpret_cast<const uint32_t*>(p.w) + t * words * kTileRows;
  const int8_t* xq = a.q + m * p.K;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    __m512i d0 = _mm512_setzero_si512(), d1 = d0, d2 = d0, d3 = d0;
    for (int64_t c = g * group_words; c < (g + 1) * group_words; c += 2) {
      _mm_prefetch(reinterpret_cast<const char*>(w + (c + kPrefetchWords) * kTileRows), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + (c + 1 + kPrefetchWords) * kTileRows), _MM_HINT_T0);
      const __m512i w0 = _mm512_loadu_si512(w + c * kTileRows);
      const __m512i w1 = _mm512_loadu_si512(w + (c + 1) * kTileRows);
      const int8_t* x = xq + c * 8;
      d0 = _mm512_dpbusd_epi32(d0, _mm512_and_si512(w0, nibble), broadcast4(x));
      d1 = _mm512_dpbusd_epi32(d1, _mm512_and_si512(_mm512_srli_epi16(w0, 4), nibble), broadcast4(x + 4));
      d2 = _mm512_dpbusd_epi32(d2, _mm512_and_si512(w1, nibble), broadcast4(x + 8));
      d3 = _mm512_dpbusd_epi32(d3, _mm512_and_si512(_mm512_srli_epi16(w1, 4), nibble), broadcast4(x + 12));
    }
    const __m512 s = load16<ST>(p.scales, (t * groups + g) * kTileRows);
    const __m512 b = load16<ST>(p.biases, (t * groups + g) * kTileRows);
    const int64_t ag = m * groups + g;
    // The same float operations in the same order as tiles(): a row decoded alone gets the
    // bits it gets in a batch.
    const __m512i d = _mm512_add_epi32(_mm512_add_epi32(d0, d1), _mm512_add_epi32(d2, d3));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(s, _mm512_set1_ps(a.scale[ag])), acc);
    acc = _mm512_fmadd_ps(b, _mm512_set1_ps(a.sum[ag]), acc);
  }
  _mm512_storeu_ps(p.y + m * p.N + t * kTileRows, acc);
}

// Activation rows in tiles of up to 8 (outer), weight tiles inner: the task's weight tiles stay
// in cache while each activation tile passes. Few activation rows leave registers for several
// weight tiles at once.
void compute_tiled(const QmmProblem& p, const QuantizedActivations& a, int64_t n0, int64_t n1,
                   int64_t m0, int64_t m1) {
  const int64_t t0 = n0 / kTileRows, t1 = n1 / kTileRows;
  with_scale_type(p.scale_type, [&]<ScaleType ST>() {
    for (int64_t m = m0; m < m1; m += kRowTile) {
      with_row_count<kRowTile>(m1 - m < kRowTile ? m1 - m : kRowTile, [&]<int MT>() {
        with_bits(p.bits, [&]<int BITS>() {
          int64_t t = t0;
          if constexpr (MT == 1 && BITS == 4) {  // groups are multiples of 64: whole word pairs
            for (; t < t1; ++t) tile_one_row<ST>(p, a, t, m);
            return;
          }
          constexpr int NT = MT == 1 ? 4 : MT == 2 ? 2 : 1;
          for (; t + NT <= t1; t += NT) tiles<NT, MT, BITS, ST>(p, a, t, m);
          for (; t < t1; ++t) tiles<1, MT, BITS, ST>(p, a, t, m);
        });
      });
    }
  });
}

const IsaKernels kAvx512Vnni{quantize_rows, compute, 64, compute_tiled, 8};

}  // namespace

const IsaKernels* avx512vnni_kernels() { return &kAvx512Vnni; }

}  // namespace pensieve::kernels::detail
