#pragma once
// CPU kernels for y = x · Wᵀ with W in MLX's affine quantized layout: each row of W is packed
// into uint32 words, value j of a word in bits [j*bits, (j+1)*bits) (so, in memory, 4-bit values
// come low nibble first and 8-bit values in byte order), and w[n, k] = scale[n, g] * q + bias[n, g]
// for the group g = k / group_size along K.
#include <cstdint>

namespace pensieve::kernels {

enum class ScaleType { f32, f16, bf16 };

struct QmmProblem {
  const float* x = nullptr;      // [M, K], row-major
  const uint8_t* w = nullptr;    // [N, K * bits / 8] bytes, row-major
  const void* scales = nullptr;  // [N, K / group_size] of scale_type
  const void* biases = nullptr;  // [N, K / group_size] of scale_type
  ScaleType scale_type = ScaleType::f32;
  float* y = nullptr;            // [M, N], row-major
  int64_t M = 0, N = 0, K = 0;
  int bits = 0;
  int group_size = 0;
};

// Which instruction-set variant runs; chosen once from the CPU's features.
enum class QmmIsa { scalar, avx2, avx512vnni };

QmmIsa best_qmm_isa();
const char* qmm_isa_name(QmmIsa isa);

// Whether the kernels handle this format (affine, bits 4 or 8, group size 32, 64 or 128,
// K a multiple of the group size).
bool qmm_supported(int bits, int group_size, int64_t K);

// Computes p.y using the thread pool. `isa` defaults to the best one this CPU has; asking for a
// variant the CPU lacks falls back to the best available one below it.
void quantized_matmul_cpu(const QmmProblem& p);
void quantized_matmul_cpu(const QmmProblem& p, QmmIsa isa);

}  // namespace pensieve::kernels
