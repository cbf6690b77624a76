// AVX2 + FMA + F16C kernels. Integer dot products of unsigned weight codes with int8 activations
// through vpmaddubsw; per group the int32 sums are scaled in float: scale_w · scale_x · Σ q·x̂,
// plus bias_w · Σ x for the affine offset.
#include "kernels/qmm_isa_common.inl"

namespace pensieve::kernels::detail {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Output n for activation rows [m0, m0 + MT): the weight row is unpacked once per 32 values and
// used for all MT rows.
template <int MT, ScaleType ST>
void rows_4bit(const QmmProblem& p, const QuantizedActivations& a, int64_t n, int64_t m0) {
  const int64_t G = p.group_size, groups = p.K / G;
  const uint8_t* w = p.w + n * (p.K / 2);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[MT];
  float bias_acc[MT];
  for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps(), bias_acc[m] = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    // 16-bit partial sums: each lane gets ≤ 2·15·127 per block, ≤ 4 blocks per group of 128.
    __m256i part[MT];
    for (int m = 0; m < MT; ++m) part[m] = _mm256_setzero_si256();
    for (int64_t k = g * G; k < (g + 1) * G; k += 32) {
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k / 2));
      const __m256i codes =
          _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), nibble);
      for (int m = 0; m < MT; ++m) {
        const __m256i xq =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + (m0 + m) * p.K + k));
        part[m] = _mm256_add_epi16(part[m], _mm256_maddubs_epi16(codes, xq));
      }
    }
    const float s = load_scale<ST>(p.scales, n * groups + g);
    const float b = load_scale<ST>(p.biases, n * groups + g);
    for (int m = 0; m < MT; ++m) {
      const int64_t ag = (m0 + m) * groups + g;
      const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(part[m], ones));
      acc[m] = _mm256_fmadd_ps(dot, _mm256_set1_ps(s * a.scale[ag]), acc[m]);
      bias_acc[m] += b * a.sum[ag];
    }
  }
  for (int m = 0; m < MT; ++m) p.y[(m0 + m) * p.N + n] = hsum(acc[m]) + bias_acc[m];
}

// 8-bit codes reach 255, too large for vpmaddubsw's saturating pair sums with int8 activations,
// so they are recentred to q - 128 (signed) and multiplied through the sign trick
// |q - 128| · sign(x̂, q - 128); the 128 · scale offset joins the bias.
template <int MT, ScaleType ST>
void rows_8bit(const QmmProblem& p, const QuantizedActivations& a, int64_t n, int64_t m0) {
  const int64_t G = p.group_size, groups = p.K / G;
  const uint8_t* w = p.w + n * p.K;
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[MT];
  float bias_acc[MT];
  for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps(), bias_acc[m] = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    __m256i part[MT];
    for (int m = 0; m < MT; ++m) part[m] = _mm256_setzero_si256();
    for (int64_t k = g * G; k < (g + 1) * G; k += 32) {
      const __m256i centred = _mm256_xor_si256(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k)), flip);
      const __m256i magnitude = _mm256_abs_epi8(centred);
      for (int m = 0; m < MT; ++m) {
        const __m256i xq =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + (m0 + m) * p.K + k));
        const __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(xq, centred));
        part[m] = _mm256_add_epi32(part[m], _mm256_madd_epi16(pairs, ones));
      }
    }
    const float s = load_scale<ST>(p.scales, n * groups + g);
    const float b = load_scale<ST>(p.biases, n * groups + g) + 128.0f * s;
    for (int m = 0; m < MT; ++m) {
      const int64_t ag = (m0 + m) * groups + g;
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(part[m]), _mm256_set1_ps(s * a.scale[ag]),
                               acc[m]);
      bias_acc[m] += b * a.sum[ag];
    }
  }
  for (int m = 0; m < MT; ++m) p.y[(m0 + m) * p.N + n] = hsum(acc[m]) + bias_acc[m];
}

constexpr int kRowTile = 4;

template <int MT, ScaleType ST>
void rows(const QmmProblem& p, const QuantizedActivations& a, int64_t n, int64_t m0) {
  if (p.bits == 4) {
    rows_4bit<MT, ST>(p, a, n, m0);
  } else {
    rows_8bit<MT, ST>(p, a, n, m0);
  }
}

void compute(const QmmProblem& p, const QuantizedActivations& a, int64_t n0, int64_t n1,
             int64_t m0, int64_t m1) {
  with_scale_type(p.scale_type, [&]<ScaleType ST>() {
    // Activation tiles outside, weight rows inside: the task's stretch of weight rows stays in
    // cache while each tile of activation rows passes over it.
    for (int64_t m = m0; m < m1; m += kRowTile) {
      with_row_count<kRowTile>(m1 - m < kRowTile ? m1 - m : kRowTile, [&]<int MT>() {
        for (int64_t n = n0; n < n1; ++n) rows<MT, ST>(p, a, n, m);
      });
    }
  });
}

const IsaKernels kAvx2{quantize_rows, compute, 32, compute_tiled_avx2, 8};

}  // namespace

const IsaKernels* avx2_kernels() { return &kAvx2; }

}  // namespace pensieve::kernels::detail
