#include "kernels/swiglu_cpu.h"

#include <cmath>

#include "kernels/cpu_dispatch.h"

namespace pensieve::kernels {

namespace detail {

void swiglu_portable(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

#if !defined(PENSIEVE_X86_KERNELS)
SwigluFn swiglu_avx2() { return nullptr; }
#endif

}  // namespace detail

void swiglu_span(const float* gate, const float* up, float* out, int64_t n) {
  static const detail::SwigluFn body = [] {
    const detail::SwigluFn avx2 = cpu_has_avx2() ? detail::swiglu_avx2() : nullptr;
    return avx2 ? avx2 : detail::swiglu_portable;
  }();
  body(gate, up, out, n);
}

void swiglu_rows(const float* x, float* a, int64_t K, int64_t m0, int64_t m1) {
  for (int64_t m = m0; m < m1; ++m) swiglu_span(x + m * 2 * K, x + m * 2 * K + K, a + m * K, K);
}

}  // namespace pensieve::kernels
