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
  const int64_t G = p.group_size, groups = p.K / G;
  const int64_t row_bytes = p.K * p.bits / 8;
  float codes[128];  // one group's codes as floats: plain loops the compiler can vectorise
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* wrow = p.w + n * row_bytes;
    for (int64_t m = m0; m < m1; ++m) p.y[m * p.N + n] = 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t* wg = wrow + g * G * p.bits / 8;
      if (p.bits == 4) {
        for (int64_t i = 0; i < G / 2; ++i) {
          codes[2 * i] = static_cast<float>(wg[i] & 0x0F);
          codes[2 * i + 1] = static_cast<float>(wg[i] >> 4);
        }
      } else {
        for (int64_t i = 0; i < G; ++i) codes[i] = static_cast<float>(wg[i]);
      }
      const float s = load_scale(p.scales, n * groups + g, p.scale_type);
      const float b = load_scale(p.biases, n * groups + g, p.scale_type);
      for (int64_t m = m0; m < m1; ++m) {
        const float* xg = p.x + m * p.K + g * G;
        float dot = 0.0f, xsum = 0.0f;
        for (int64_t i = 0; i < G; ++i) {
          dot += codes[i] * xg[i];
          xsum += xg[i];
        }
        p.y[m * p.N + n] += s * dot + b * xsum;
      }
    }
  }
}

}  // namespace pensieve::kernels::detail
