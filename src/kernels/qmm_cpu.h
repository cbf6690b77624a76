#pragma once
// CPU kernels for y = x · Wᵀ with W in MLX's affine quantized layout: each row of W is packed
// into uint32 words, value j of a word in bits [j*bits, (j+1)*bits) (so, in memory, 4-bit values
// come low nibble first and 8-bit values in byte order), and w[n, k] = scale[n, g] * q + bias[n, g]
// for the group g = k / group_size along K.
#include <cstdint>

namespace pensieve::kernels {

enum class ScaleType { f32, f16, bf16 };

// Rows per tile of the tiled layout.
constexpr int kTileRows = 16;

// How W, its scales and its biases are laid out in memory.
//  - rows: MLX's own layout, one row of W after another.
//  - tiled16: 16 rows at a time, transposed by 32-bit word. Word c of the rows n..n+15 of a tile
//    are 16 consecutive words (one 512-bit register), then word c+1, and so on; scales and
//    biases likewise [N/16, groups, 16]. A word holds 8 consecutive 4-bit codes or 4 8-bit
//    codes, so one vpdpbusd lane multiplies one row's codes by broadcast activations and the
//    register's 16 lanes are 16 outputs: no horizontal sums, and per group the scaling is a
//    vector multiply. N must be a multiple of 16. Read by the AVX-512 VNNI and AVX2 kernels.
enum class WeightLayout { rows, tiled16 };

// What the matmul applies to x before multiplying: nothing, or SwiGLU (x is [M, 2K] = [gate | up]
// and the product uses silu(gate) · up, see swiglu_cpu.h).
enum class InputOp { none, swiglu };

struct QmmProblem {
  const float* x = nullptr;      // [M, K], row-major ([M, 2K] with InputOp::swiglu)
  InputOp input_op = InputOp::none;
  const uint8_t* w = nullptr;    // [N, K * bits / 8] bytes, row-major
  const void* scales = nullptr;  // [N, K / group_size] of scale_type
  const void* biases = nullptr;  // [N, K / group_size] of scale_type
  ScaleType scale_type = ScaleType::f32;
  WeightLayout layout = WeightLayout::rows;
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

// Whether this CPU runs a kernel for WeightLayout::tiled16 (and so whether weights should be
// repacked to it at load).
bool tiled_layout_supported();

// Computes p.y using the thread pool. `isa` defaults to the best one this CPU has; asking for a
// variant the CPU lacks falls back to the best available one below it. The tiled16 layout runs
// the AVX-512 VNNI or AVX2 kernel (it throws on CPUs without AVX2).
void quantized_matmul_cpu(const QmmProblem& p);
void quantized_matmul_cpu(const QmmProblem& p, QmmIsa isa);

}  // namespace pensieve::kernels
