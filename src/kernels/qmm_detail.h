#pragma once
// Pieces shared between the quantized-matmul dispatcher and its per-ISA kernel files. The ISA
// files are compiled with their own -m flags, so they include nothing here that is not plain data
// (no inline library code whose one linked copy could carry AVX-512 instructions).
#include <cstdint>

#include "kernels/qmm_cpu.h"

namespace pensieve::kernels::detail {

// Activations quantized to int8 per group of K (the weight's group size): x ≈ scale · q. `sum`
// is each group's scale · Σq, which the affine bias term multiplies.
struct QuantizedActivations {
  int8_t* q = nullptr;       // [M, K], values reordered within blocks to match the weight unpacking
  float* scale = nullptr;    // [M, K / group]
  float* sum = nullptr;      // [M, K / group]: scale · Σ q
};

// Rows [m0, m1) of x quantized into `a`. `block` is the span the values are reordered over: for
// 4-bit weights each block of `block` values is stored as its even-indexed then its odd-indexed
// values (the order in which a register's low then high nibbles come out); 0 keeps x's order.
using QuantizeRowsFn = void (*)(const QmmProblem& p, const QuantizedActivations& a, int64_t m0,
                                int64_t m1, int block);

// Output columns [n0, n1) for rows [m0, m1).
using ComputeFn = void (*)(const QmmProblem& p, const QuantizedActivations& a, int64_t n0,
                           int64_t n1, int64_t m0, int64_t m1);

struct IsaKernels {
  QuantizeRowsFn quantize_rows;
  ComputeFn compute;
  int block;  // reorder span for 4-bit activations (see QuantizeRowsFn)
  ComputeFn compute_tiled = nullptr;  // for WeightLayout::tiled16, where the variant has one
  int tiled_block = 0;                // reorder span for 4-bit activations with tiled16
};

// Null where the build has no such variant (non-x86). The caller checks the CPU first.
const IsaKernels* avx2_kernels();
const IsaKernels* avx512vnni_kernels();

// Defined in avx2/qmm_avx2_tiled.cpp.
void compute_tiled_avx2(const QmmProblem& p, const QuantizedActivations& a, int64_t n0,
                        int64_t n1, int64_t m0, int64_t m1);

// Plain C++ version: float activations, any supported format, any CPU.
void compute_scalar(const QmmProblem& p, int64_t n0, int64_t n1, int64_t m0, int64_t m1);

}  // namespace pensieve::kernels::detail
