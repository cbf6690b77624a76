// Included by each per-ISA kernel file (compiled with that ISA's flags). Everything here has
// internal linkage, so each file keeps its own copy built for its own instruction set.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/qmm_detail.h"

namespace pensieve::kernels::detail {
namespace {

inline int round_to_int(float v) { return _mm_cvtss_si32(_mm_set_ss(v)); }  // nearest-even

// body.template operator()<ST>() for the run-time scale type `t`: the kernels are compiled once
// per scale type, picked here once per call.
template <class Body>
inline void with_scale_type(ScaleType t, Body&& body) {
  switch (t) {
    case ScaleType::f32: body.template operator()<ScaleType::f32>(); break;
    case ScaleType::f16: body.template operator()<ScaleType::f16>(); break;
    case ScaleType::bf16: body.template operator()<ScaleType::bf16>(); break;
  }
}

// body.template operator()<MT>() for the run-time count of activation rows `rows` (1 … kMax):
// a kernel instance per row count keeps the accumulators in registers.
template <int kMax, class Body>
inline void with_row_count(int64_t rows, Body&& body) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((rows == I + 1 ? (body.template operator()<I + 1>(), true) : false) || ...);
  }(std::make_integer_sequence<int, kMax>{});
}

// body.template operator()<BITS>() for 4- or 8-bit codes.
template <class Body>
inline void with_bits(int bits, Body&& body) {
  if (bits == 4) {
    body.template operator()<4>();
  } else {
    body.template operator()<8>();
  }
}

template <ScaleType ST>
inline float load_scale(const void* base, int64_t i) {
  if constexpr (ST == ScaleType::f32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (ST == ScaleType::f16) {
    return _cvtsh_ss(static_cast<const uint16_t*>(base)[i]);
  } else {
    const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(base)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
}

// Symmetric int8 per weight group (a multiple of 8 values): scale = max|x| / 127, so every q lies in [-127, 127] (the
// maddubs products rely on that bound). `sum` is the sum of the quantized values (times the
// scale), not of x: then the bias term sees the same activation as the codes, and the rounding
// error is weighted by the dequantized weight s·q + b instead of by s·q alone, which for 4-bit
// codes (all ≥ 0) is several times larger.
inline float group_abs_max(const float* x, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  r = _mm_max_ps(r, _mm_movehl_ps(r, r));
  r = _mm_max_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// Eight int32 in [-127, 127] → eight bytes at q, in lane order [0..7] or, with `interleave`,
// [0, 2, 4, 6, 1, 3, 5, 7].
inline void store8(int8_t* q, __m256i v, bool interleave) {
  if (interleave) v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
  const int32_t lo = _mm_cvtsi128_si32(_mm256_castsi256_si128(b));
  const int32_t hi = _mm_cvtsi128_si32(_mm256_extracti128_si256(b, 1));
  std::memcpy(q, &lo, 4);
  std::memcpy(q + 4, &hi, 4);
}

[[maybe_unused]] void quantize_rows(const QmmProblem& p, const QuantizedActivations& a,
                                    int64_t m0, int64_t m1, int block) {
  const int64_t G = p.group_size;
  const int64_t groups = p.K / G;
  for (int64_t m = m0; m < m1; ++m) {
    const float* x = p.x + m * p.K;
    int8_t* q = a.q + m * p.K;
    for (int64_t g = 0; g < groups; ++g) {
      const float* xg = x + g * G;
      int8_t* qg = q + g * G;
      const float amax = group_abs_max(xg, G);
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      int isum = 0;
      if (block == 0 || block == 8) {  // within one register: vector rounding and packing
        const __m256 vinv = _mm256_set1_ps(inv);
        __m256i sums = _mm256_setzero_si256();
        for (int64_t i = 0; i < G; i += 8) {
          // Rounds to nearest even (the MXCSR default), as round_to_int does.
          const __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + i), vinv));
          sums = _mm256_add_epi32(sums, v);
          store8(qg + i, v, block == 8);
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
        s4 = _mm_hadd_epi32(s4, s4);
        s4 = _mm_hadd_epi32(s4, s4);
        isum = _mm_cvtsi128_si32(s4);
      } else {  // even-indexed values first, then odd, within each block
        for (int64_t b0 = 0; b0 < G; b0 += block) {
          for (int64_t j = 0; j < block; ++j) {
            const int v = round_to_int(xg[b0 + j] * inv);
            qg[b0 + (j & 1 ? block / 2 : 0) + j / 2] = static_cast<int8_t>(v);
            isum += v;
          }
        }
      }
      const float d = amax / 127.0f;
      a.scale[m * groups + g] = d;
      a.sum[m * groups + g] = d * static_cast<float>(isum);
    }
  }
}

}  // namespace
}  // namespace pensieve::kernels::detail
