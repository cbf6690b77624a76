#pragma once
// The rotary position embedding entry point of the model, in MLX's non-traditional layout (the
// pair of feature i is feature i + dims/2), as mx::fast::rope. On the CPU (float32) it is one MLX
// graph node running Pensieve's loop; elsewhere mx::fast::rope. MLX's CPU backend has no rope
// kernel: its fallback is 27 graph nodes a call (two calls a layer), and at one token a step the
// per-node cost, not the arithmetic, is what a decode step pays.
#include <optional>
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

struct RotarySpec {
  int dims = 0;  // rotated features: the first `dims` of each head
  // dims/2 divisors: pair i of position p turns by p · position_scale / divisors[i]
  // (mx::fast::rope's "freqs", factor_i · base^(2i/dims)).
  std::vector<float> divisors;
  float position_scale = 1.0f;
  float attention_factor = 1.0f;  // multiplies the rotated features first (LongRoPE)
  // How mx::fast::rope is called off the CPU path: from `base` (plain RoPE) or from the divisors.
  std::optional<float> base;
  std::optional<mx::array> divisors_array;

  static RotarySpec from_base(int dims, float base, float position_scale);
  static RotarySpec from_divisors(int dims, std::vector<float> divisors, float attention_factor);
};

// x: [B, heads, L, head_dim] at positions offset … offset+L-1 → the same shape, rotated.
mx::array rotary_embedding(const mx::array& x, const RotarySpec& spec, int offset);
// x: [B, heads, 1, head_dim], row b at position offsets[b] (int32 [B]): mx::fast::rope on every
// device (the batched decode path; MLX's CPU fallback where it runs on the CPU).
mx::array rotary_embedding(const mx::array& x, const RotarySpec& spec, const mx::array& offsets);

// Whether rope_and_store takes heads of head_dim features rotated by `spec`: where
// rotary_embedding would run Pensieve's CPU node, and PENSIEVE_CPU_ROPE_STORE not 0.
bool rope_and_store_available(const RotarySpec& spec, int head_dim);
// Three CPU nodes for a layer's new positions instead of 13 (rope_store_primitive.h): qkv [1, L,
// (heads + 2·kv_heads)·head_dim] float32 → {the queries rotated [1, heads, L, head_dim] float32,
// keys and values (float16 [1, kv_heads, capacity, head_dim]) with positions offset … offset+L−1
// written: the keys rotated}. The same bits as rotary_embedding on the heads' views, cast to
// float16 and written by mx::slice_update.
std::vector<mx::array> rope_and_store(const mx::array& qkv, const mx::array& keys, const mx::array& values,
                                      int heads, int kv_heads, const RotarySpec& spec, int offset);

}  // namespace pensieve::kernels
