#pragma once
// The kernel variants the device decoder compiles for Phi-3-mini-128k (model/cuda_decoder.cpp and
// cuda_decoder_batch.cpp pick them from the model's shapes): the GEMVs of qkv and lm_head, o,
// gate_up and down, looping and single (gemv_variant: the decoder's block sizes), with byte dot
// products; the batched products of the same layers for up to 8 and up to 32 rows, in both
// kernels (gemm_rows, and gemm_slices where the GPU has clusters). Shared by
// cuda_kernel_source_test.cpp and bench/gpu/decoder_source.cpp.
#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "model/cuda_decoder_kernels.h"

namespace pensieve::testing {

struct DecoderKernelSet {
  model::cuda_kernels::Dims dims{3072, 32, 32, 96, 64, 32};  // model/cuda_decoder.h's limits
  std::vector<model::cuda_kernels::Gemv> gemvs;
  std::vector<model::cuda_kernels::BatchGemm> gemms;

  DecoderKernelSet() {
    const std::tuple<int, bool, bool, bool, int> shapes[] = {  // K, residual, norm, gated, rows
        {3072, false, true, false, 9216},                       // qkv
        {3072, false, true, false, 32064},                      // lm_head
        {3072, true, false, false, 3072},                       // o
        {3072, false, true, true, 16384},                       // gate_up
        {8192, true, false, false, 3072}};                      // down
    for (const bool looping : {true, false})
      for (const auto& [K, residual, norm, gated, rows] : shapes) {
        model::cuda_kernels::Gemv shape{K, 1, residual, norm, gated};
        shape.dp4a = true;
        const auto g = model::cuda_kernels::gemv_variant(shape, looping, rows);
        if (std::none_of(gemvs.begin(), gemvs.end(), [&](const auto& o) { return o.name() == g.name(); }))
          gemvs.push_back(g);
      }
    const std::pair<int, int> products[] = {{3072, 0}, {3072, 1}, {3072, 2}, {8192, 1}};  // K, mode
    for (const auto& [K, mode] : products)
      for (const int nt : {1, 4}) {
        model::cuda_kernels::BatchGemm g{K, 2, nt, mode};  // gemm_rows
        gemms.push_back(g);
        g.T = 1;
        g.KS = model::cuda_kernels::batch_gemm_slice(K);  // gemm_slices
        gemms.push_back(g);
      }
  }

  // Every kernel the decoder may look up by name on a GPU of compute capability arch·0.1 (the
  // gemm_slices kernels need clusters: 9.0 on).
  std::vector<std::string> names(int arch) const {
    std::vector<std::string> all{"embed", "attention", "argmax", "attention_rows", "norm_rows"};
    for (const auto& g : gemvs) all.push_back(g.name());
    for (const auto& g : gemms)
      if (g.KS == 0 || arch >= 90) all.push_back(g.name());
    return all;
  }
  std::string source() const { return model::cuda_kernels::source(dims, gemvs, gemms); }
};

}  // namespace pensieve::testing
