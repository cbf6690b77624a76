#pragma once
// CUDA C source of the one-sequence decode step (model/cuda_decoder.h), compiled by NVRTC with
// the model's dimensions as constants. Headerless: float16 values are 16-bit integers and their
// arithmetic is inline PTX, so no CUDA toolkit headers are needed where Pensieve runs.
#include <optional>
#include <string>
#include <vector>

namespace pensieve::model::cuda_kernels {

struct Dims {
  int hidden = 0;          // D
  int heads = 0;           // H
  int kv_heads = 0;        // KVH
  int head_dim = 0;        // a multiple of 32, at most 128
  int max_chunks = 64;     // attention: partial results a head, at most
  int max_rows = 32;       // batch rows (attention_rows' row information)
};

// A 4-bit group-64 GEMV variant: in features K, rows per warp R (N must be a multiple of 8·R),
// residual added to (and written over) y, x RMS-normalized while staging, the output gated
// (R = 2: silu(gate) · up of a [gate; up] matrix, half as many values as rows).
struct Gemv {
  int K = 0, R = 1;
  bool residual = false, norm = false, gated = false;
  bool looped = true;  // the next row group's weights load while one is computed
  bool dp4a = false;   // x as 16-bit integers, byte dot products (kernels/cuda_gemv_source.h)
  int warps = 8;       // a block's warps, a row each (gated: half gate rows, half up rows)
  int threads() const { return 32 * warps; }
  std::string name() const;
};

// Warps a block of the decoder's GEMV of `rows` weight rows: one block a multiprocessor, so that
// x is staged (read, normalized, quantized) once there instead of by each of two to four blocks
// of 8 warps: 16 for the kernels that loop over row groups (qkv, gate_up, lm_head; 115 and 87
// registers allow no more) and 24 for those whose blocks take one group each (o, down: 128
// blocks). Decode +2.9 % on an H100 (bench/gpu/README.md, fifteenth round). 8 where that does
// not divide the rows.
int gemv_block_warps(bool looped, int rows);

// The GEMV kernel of a linear layer of `rows` weight rows and shape g (K, residual, norm, gated,
// dp4a): the looping one (a block takes row group after row group, the next group's weights in a
// second set of registers where K <= kGemvMaxTwoSetK) or the single one (a block a row group), in
// blocks of gemv_block_warps. The decoder compiles both for each layer and launches one; the
// tests compile the same list.
Gemv gemv_variant(Gemv g, bool looping, int rows);

// A batched 4-bit group-64 product (tensor cores): in features K, up to 8·NT rows of x; mode 0
// plain, 1 residual (y +=), 2 gated ([gate; up] rows, y = silu(gate) · up). Tiles of 16 weight
// rows (gated: 8 gate rows and their 8 up rows), in one of two kernels:
// - KS = 0, gemm_rows (compute capability 8.0 on): T tiles a block, each of its 8 warps an eighth
//   of K; a grid of tiles / T blocks.
// - KS > 0, gemm_slices (9.0 on: clusters): kSliceTiles tiles a block over a slice of KS values
//   of K; a grid of ceil(tiles / kSliceTiles) × K / KS blocks, the K / KS blocks of a row range
//   one cluster (batch_gemm_slice).
struct BatchGemm {
  int K = 0, T = 1, NT = 1, mode = 0;
  int KS = 0;
  std::string name() const;
};
inline constexpr int kSliceTiles = 8;

// The slice of K a gemm_slices block takes: the shortest multiple of 512 values that divides K
// into at most 8 slices (a cluster's portable size limit); 0 where K is not a multiple of 512.
int batch_gemm_slice(int K);

// How a linear layer of `in` features and `out` weight rows runs batched (mode as BatchGemm's;
// NT is the caller's): the kernel's shape, its grid (blocks × slices) and the output values a
// batch row; nullopt where no batched kernel takes the shape. sliced: gemm_slices (compute
// capability 9.0 on), otherwise gemm_rows.
struct BatchLaunch {
  BatchGemm gemm;
  unsigned blocks = 0, slices = 1;
  int values = 0;
};
std::optional<BatchLaunch> batch_launch(int in, int out, int mode, bool sliced);

// Kernels: embed, attention, argmax, attention_rows, norm_rows, each Gemv::name(), whose
// arguments are (x, w, scales, biases, y, norm_w, eps, groups) for blocks of Gemv::threads():
// norm_w and eps read only by norm variants, groups the row groups of warps·R rows (gated: half
// of them gate rows) that the grid's blocks share; and each BatchGemm::name() (x, w, scales,
// biases, y, n_out, rows) for blocks of 256 threads: n_out the output values a row of y (gated:
// half the weight rows), tiles n_out / 16 (gated: n_out / 8). embed and argmax take a block a
// batch row. The gemm_slices kernels are compiled only for compute capability 9.0 on.
std::string source(const Dims& dims, const std::vector<Gemv>& gemvs, const std::vector<BatchGemm>& gemms = {});

// Threads a block for each kernel (the launcher and the source agree on these; the GEMV's in
// kernels/cuda_gemv_source.h).
inline constexpr int kAttnThreads = 128;
inline constexpr int kArgmaxThreads = 1024;
inline constexpr int kEmbedThreads = 128;

}  // namespace pensieve::model::cuda_kernels
