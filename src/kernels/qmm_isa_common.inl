// Included by each per-ISA kernel file (compiled with that ISA's flags). Everything here has
// internal linkage, so each file keeps its own copy built for its own instruction set.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/qmm_detail.h"

namespace pensieve::kernels::detail {
namespace {

inline int round_to_int(float v) { return _mm_cvtss_si32(_mm_set_ss(v)); }  // nearest-even

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

// Symmetric int8 per weight group: scale = max|x| / 127, so every q lies in [-127, 127] (the
// maddubs products rely on that bound). `sum` is the sum of the quantized values (times the
// scale), not of x: then the bias term sees the same activation as the codes, and the rounding
// error is weighted by the dequantized weight s·q + b instead of by s·q alone, which for 4-bit
// codes (all ≥ 0) is several times larger.
[[maybe_unused]] void quantize_rows(const QmmProblem& p, const QuantizedActivations& a,
                                    int64_t m0, int64_t m1, int block) {
  const int64_t G = p.group_size;
  const int64_t groups = p.K / G;
  for (int64_t m = m0; m < m1; ++m) {
    const float* x = p.x + m * p.K;
    int8_t* q = a.q + m * p.K;
    for (int64_t g = 0; g < groups; ++g) {
      const float* xg = x + g * G;
      float amax = 0.0f;
      for (int64_t i = 0; i < G; ++i) {
        const float v = xg[i] < 0 ? -xg[i] : xg[i];
        amax = v > amax ? v : amax;
      }
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      int isum = 0;
      for (int64_t i = 0; i < G; ++i) {
        int64_t dst = i;
        if (block > 0) {  // even-indexed values first, then odd, within each block
          const int64_t b0 = i - i % block, j = i - b0;
          dst = b0 + (j % 2 == 0 ? j / 2 : block / 2 + j / 2);
        }
        const int v = round_to_int(xg[i] * inv);
        q[g * G + dst] = static_cast<int8_t>(v);
        isum += v;
      }
      const float d = amax / 127.0f;
      a.scale[m * groups + g] = d;
      a.sum[m * groups + g] = d * static_cast<float>(isum);
    }
  }
}

}  // namespace
}  // namespace pensieve::kernels::detail
