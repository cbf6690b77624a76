#pragma once
// The one linear-layer entry point of every model: y = x · Wᵀ for a weight that is either a
// plain float matrix or an MLX affine-quantized one (packed uint32 + scales + biases). Which
// implementation runs — MLX's own op or a Pensieve kernel — is decided here, by device, dtype and
// format, never in model code.
#include <optional>

#include <mlx/mlx.h>

#include "kernels/qmm_cpu.h"

namespace pensieve::kernels {

namespace mx = mlx::core;

struct LinearWeight {
  mx::array weight;                 // [out, in] float, or [out, in*bits/32] uint32 when quantized
  std::optional<mx::array> scales;  // [out, in/group_size] when quantized
  std::optional<mx::array> biases;  // [out, in/group_size] when quantized (affine mode)
  int group_size = 0;               // 0 → not quantized
  int bits = 0;
  // Memory layout of weight, scales and biases: MLX's rows, or the CPU kernel's tiled16, which
  // with_float_dtype picks on CPUs with AVX2 (shapes stay [out, ...] either way).
  WeightLayout layout = WeightLayout::rows;

  bool quantized() const { return group_size > 0; }
  int out_features() const { return weight.shape(0); }
  int in_features() const { return quantized() ? weight.shape(1) * 32 / bits : weight.shape(1); }
};

// x: [..., in] → [..., out], in x's dtype.
mx::array linear(const mx::array& x, const LinearWeight& w);

// linear(silu(gate) · up, w) for gate_up = [..., 2·in] holding gate then up (Phi-3's fused MLP
// projection): on the CPU kernel path the SwiGLU happens inside the matmul's input preparation.
mx::array linear_swiglu(const mx::array& gate_up, const LinearWeight& w);

// Rows `ids` of the weight as float rows of dtype `dtype` (embedding lookup, dequantized).
mx::array embedding_rows(const mx::array& ids, const LinearWeight& w, mx::Dtype dtype);

// Whether linear(x, w) runs Pensieve's CPU kernel rather than MLX's op: a quantized affine
// weight (bits 4 or 8, group size 32, 64 or 128, with biases) and a float x, on the CPU device.
bool uses_cpu_kernel(const mx::array& x, const LinearWeight& w);

// Converts a weight's float parts (float weight, or scales and biases) to `dtype` once at load,
// so that per-step work does not convert them again (the CPU path wants float32). Quantized weights
// that the CPU kernel will take (dtype float32, CPU default device) keep their scales and biases
// as stored, since the kernel reads float16 and bfloat16 directly and converting would add a tenth
// to the bytes each step reads; on x86 CPUs with AVX2 they are also repacked, once, to the tiled16
// layout (evaluated here). Call it for every quantized weight at load.
LinearWeight with_float_dtype(const LinearWeight& w, mx::Dtype dtype);

// Whether with_float_dtype(w, dtype) repacks w to the tiled16 layout: a loader that has the
// file's bytes can then write that layout directly (kernels/repack.h) instead, and
// with_float_dtype keeps it. Reads only w's format, not its data.
bool repacks_to_tiled16(const LinearWeight& w, mx::Dtype dtype);

}  // namespace pensieve::kernels
