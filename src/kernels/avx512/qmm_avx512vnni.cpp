// AVX-512 VNNI kernels: vpdpbusd multiplies unsigned weight codes (4- or 8-bit alike) by int8
// activations and accumulates in int32 without saturation, 64 values per instruction. Groups
// must be multiples of 64 (32 goes to the AVX2 variant).
// GCC 12's own AVX-512 intrinsic headers trip -Wmaybe-uninitialized (their `__Y` placeholders).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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

template <int MT, ScaleType ST>
void rows_any_bits(const QmmProblem& p, const QuantizedActivations& a, int64_t n, int64_t m0) {
  if (p.bits == 4) {
    rows<MT, 4, ST>(p, a, n, m0);
  } else {
    rows<MT, 8, ST>(p, a, n, m0);
  }
}

template <ScaleType ST>
void compute_typed(const QmmProblem& p, const QuantizedActivations& a, int64_t n0, int64_t n1,
                   int64_t m0, int64_t m1) {
  for (int64_t m = m0; m < m1; m += kRowTile) {
    const int64_t mt = m1 - m < kRowTile ? m1 - m : kRowTile;
    for (int64_t n = n0; n < n1; ++n) {
      switch (mt) {
        case 8: rows_any_bits<8, ST>(p, a, n, m); break;
        case 7: rows_any_bits<7, ST>(p, a, n, m); break;
        case 6: rows_any_bits<6, ST>(p, a, n, m); break;
        case 5: rows_any_bits<5, ST>(p, a, n, m); break;
        case 4: rows_any_bits<4, ST>(p, a, n, m); break;
        case 3: rows_any_bits<3, ST>(p, a, n, m); break;
        case 2: rows_any_bits<2, ST>(p, a, n, m); break;
        default: rows_any_bits<1, ST>(p, a, n, m); break;
      }
    }
  }
}

void compute(const QmmProblem& p, const QuantizedActivations& a, int64_t n0, int64_t n1,
             int64_t m0, int64_t m1) {
  switch (p.scale_type) {
    case ScaleType::f32: compute_typed<ScaleType::f32>(p, a, n0, n1, m0, m1); break;
    case ScaleType::f16: compute_typed<ScaleType::f16>(p, a, n0, n1, m0, m1); break;
    case ScaleType::bf16: compute_typed<ScaleType::bf16>(p, a, n0, n1, m0, m1); break;
  }
}

const IsaKernels kAvx512Vnni{quantize_rows, compute, 64};

}  // namespace

const IsaKernels* avx512vnni_kernels() { return &kAvx512Vnni; }

}  // namespace pensieve::kernels::detail
