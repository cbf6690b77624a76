// Portable reference-grade kernel: float activations, one weight value at a time. Runs where no
// SIMD variant applies (non-x86 builds, old CPUs).
#include <cstring>

#include "kernels/qmm_detail.h"

namespace pensieve::kernels::detail {

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float load_scale(const void* base, int64_t i, ScaleType t) {
  switch (t) {
    case ScaleType::f32: return static_cast<const float*>(base)[i];
    case ScaleType::f16: return half_to_float(static_cast<const uint16_t*>(base)[i]);
    case ScaleType::bf16: {
      const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(base)[i]) << 16;
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
  }
  return 0.0f;
}

}  // namespace

void compute_scalar(const QmmProblem& p, int64_t n0, int64_t n1, int64_t m0, int64_t m1) {
  const int64_t groups = p.K / p.group_size;
  const int64_t row_bytes = p.K * p.bits / 8;
  const uint32_t mask = (1u << p.bits) - 1;
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* wrow = p.w + n * row_bytes;
    for (int64_t m = m0; m < m1; ++m) {
      const float* xrow = p.x + m * p.K;
      float acc = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        float dot = 0.0f, xsum = 0.0f;
        for (int64_t k = g * p.group_size; k < (g + 1) * p.group_size; ++k) {
          const int64_t bit = k * p.bits;
          const uint32_t q = (wrow[bit / 8] >> (bit % 8)) & mask;
          dot += static_cast<float>(q) * xrow[k];
          xsum += xrow[k];
        }
        acc += load_scale(p.scales, n * groups + g, p.scale_type) * dot +
               load_scale(p.biases, n * groups + g, p.scale_type) * xsum;
      }
      p.y[m * p.N + n] = acc;
    }
  }
}

}  // namespace pensieve::kernels::detail
