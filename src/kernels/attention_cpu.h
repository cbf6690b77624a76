#pragma once
// Scaled dot-product attention on the CPU over a whole batch of sequences with different lengths,
// reading float32, float16 or affine-quantized (MLX layout, 8 or 4 bits, float16/float32 scales)
// keys and values in place. Softmax is computed online over blocks of keys (flash-style), so memory does
// not grow with queries × keys; work is split over (sequence, KV head, query block) on the global
// thread pool.
#include <cstdint>
#include <vector>

#include "kernels/attention_detail.h"

namespace pensieve::kernels {

enum class AttentionIsa { portable, avx2, avx512 };
AttentionIsa best_attention_isa();
// Every variant this build has and this CPU runs, portable first (tests compare them).
std::vector<AttentionIsa> available_attention_isas();

struct AttentionProblem {
  const float* q = nullptr;  // [B, heads, L, head_dim], row-contiguous
  float* out = nullptr;      // [B, L, heads, head_dim]
  int batch = 0, heads = 0, kv_heads = 0, queries = 0, head_dim = 0;
  float scale = 1.0f;
  int bits = 0;         // 0: float keys/values; 8 or 4: quantized
  bool kv_f16 = false;  // bits 0: keys and values float16 (else float32)
  int group_size = 32;  // quantization group along head_dim
  bool scales_f16 = true;  // quantized: scales/biases float16 (else float32)
  std::vector<AttentionSequence> sequences;  // one per batch row
};

// Whether the kernel takes this shape: heads a multiple of kv_heads, head_dim a multiple of 8
// (and of group_size when quantized), bits 0, 4 or 8.
bool attention_supported(int heads, int kv_heads, int head_dim, int bits, int group_size);

void attention_cpu(const AttentionProblem& p, AttentionIsa isa = best_attention_isa());

}  // namespace pensieve::kernels
