#pragma once
// SwiGLU on the CPU: a[m, k] = silu(x[m, k]) · x[m, K + k] for x = [gate | up] of width 2K, the
// activation Phi-3's MLP feeds its down projection. The quantized matmul computes it while
// preparing its input (InputOp::swiglu), multithreaded and vectorised: MLX's own x86 CPU ops run
// exp, sigmoid and the two multiplies as four single-threaded scalar passes, a fifth of a 512-token
// prefill.
#include <cstdint>

namespace pensieve::kernels {

// Rows [m0, m1) of x (2K wide) into rows [m0, m1) of a (K wide).
void swiglu_rows(const float* x, float* a, int64_t K, int64_t m0, int64_t m1);
// out[i] = silu(gate[i]) · up[i] for i < n.
void swiglu_span(const float* gate, const float* up, float* out, int64_t n);

namespace detail {
// Per-ISA bodies (nullptr where not built); swiglu_rows picks one by CPU features.
using SwigluFn = void (*)(const float* gate, const float* up, float* out, int64_t n);
SwigluFn swiglu_avx2();
void swiglu_portable(const float* gate, const float* up, float* out, int64_t n);
}  // namespace detail

}  // namespace pensieve::kernels
