#pragma once
// Plain data shared between the attention dispatcher and its per-ISA block kernels. The ISA files
// are compiled with their own -m flags, so nothing here may carry inline library code (one linked
// copy of such code could hold AVX2 instructions).
#include <cstdint>

namespace pensieve::kernels {

// Keys or values of one sequence and layer: [kv_heads, capacity, head_dim] rows, of which the
// first `length` positions are valid.
struct KvRows {
  const void* data = nullptr;    // float32 or float16 rows, or packed uint32 words (head_dim*bits/32 a row)
  const void* scales = nullptr;  // quantized: [kv_heads, capacity, head_dim/group]
  const void* biases = nullptr;
  int64_t head_stride = 0;       // rows between heads (the capacity)
};

struct AttentionSequence {
  KvRows keys, values;
  int length = 0;  // valid key positions
  int offset = 0;  // position of query 0: query i sees keys 0..offset+i (and < length)
};

namespace detail {

constexpr int kKeyBlock = 64;  // keys per online-softmax step

struct AttentionShape {
  const float* q;
  float* out;
  const AttentionSequence* sequences;
  int batch, heads, kv_heads, queries, head_dim;
  float scale;
  int bits, group_size;
  bool scales_f16;
  bool kv_f16;
};

// Floats of scratch a task over `rows` query rows needs: the keys-in-lanes block kernel's, or the
// rows kernel's (attention_rows.inl) with rows rounded up to 16 lanes and six pieces aligned to 64
// bytes, whichever it is.
constexpr int64_t attention_scratch_floats(int64_t rows, int64_t head_dim) {
  const int64_t lanes = (rows + 15) / 16 * 16;
  return lanes * (2 * head_dim + kKeyBlock + 2) + 2 * head_dim * kKeyBlock + head_dim + 6 * 16;
}

// One task: queries [i0, i1) of every head that shares KV head `kv_head` of sequence `b`.
using AttentionTaskFn = void (*)(const AttentionShape& s, int b, int kv_head, int i0, int i1,
                                 float* scratch);

AttentionTaskFn portable_attention_task();
AttentionTaskFn avx2_attention_task();    // null where the build has no AVX2 variant
AttentionTaskFn avx512_attention_task();  // null where the build has no AVX-512 variant

}  // namespace detail
}  // namespace pensieve::kernels
