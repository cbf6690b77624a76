#pragma once
// Phi-3 (Phi3ForCausalLM) on MLX: fused qkv and gate_up projections, RMSNorm, SwiGLU, rotary
// embedding with LongRoPE, grouped-query attention, optionally tied embeddings. Weights may be
// MLX affine-quantized (any per-module bits/group size the config gives) or plain float.
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <mlx/mlx.h>

#include "kernels/linear.h"
#include "model/batch_kv_cache.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/rope.h"

namespace pensieve::model {

struct LoadOptions {
  // Activation dtype. Unset: float32 on the CPU (MLX emulates float16 there element by element),
  // the weights' own float dtype on a GPU.
  std::optional<mlx::core::Dtype> dtype;
  // Unquantized KV cache storage. Unset: KVCache::default_float_dtype (float16 for float32
  // activations on the CPU, else the activation dtype).
  std::optional<mlx::core::Dtype> kv_dtype;
};

class Phi3Model {
 public:
  // Reads config.json and the safetensors weights of `dir`, checking every expected tensor's
  // presence, shape and dtype against the config. Throws pensieve::Error naming the problem.
  static Phi3Model load(const std::filesystem::path& dir, const LoadOptions& options = {});

  // tokens: [B, L] int32 at positions cache.offset()… → logits [B, L, vocab] (or [B, 1, vocab]
  // for the last position only, which skips the lm_head on the rest of a prompt chunk).
  mlx::core::array forward(const mlx::core::array& tokens, KVCache& cache, bool last_only = true) const;
  // The batched form: row b of tokens continues the sequence held in caches[b]. The linear
  // layers (nearly all the work) and, on the CPU, attention run once for the whole batch; RoPE
  // and the cache update run per sequence since each has its own length.
  mlx::core::array forward(const mlx::core::array& tokens, std::span<KVCache* const> caches,
                           bool last_only = true) const;
  // One decode step of the sequences held in `batch`: tokens [batch.rows(), 1] (a free row's
  // token is a placeholder) → logits [rows, 1, vocab]. Attention runs once a layer for them all.
  mlx::core::array forward(const mlx::core::array& tokens, BatchKVCache& batch) const;

  // kv_bits: 0 (float keys and values, stored as kv_dtype()), 8 or 4 (quantized in groups of
  // kv_group_size along head_dim, see KVCache); the group must divide head_dim.
  KVCache make_cache(int kv_bits = 0, int kv_group_size = KVCache::kDefaultGroupSize) const {
    KVCache::validate(kv_bits, kv_group_size, config_.head_dim);
    return KVCache(config_.num_hidden_layers, kv_bits, kv_group_size, kv_dtype_);
  }
  // KV bytes one position of a sequence takes over all layers.
  std::size_t kv_bytes_per_token(int kv_bits = 0, int kv_group_size = KVCache::kDefaultGroupSize) const {
    return config_.num_hidden_layers * KVCache::bytes_per_position(config_.num_key_value_heads, config_.head_dim,
                                                                   kv_dtype_, kv_bits, kv_group_size);
  }
  const ModelConfig& config() const { return config_; }
  mlx::core::Dtype dtype() const { return dtype_; }
  // The unquantized KV cache's storage dtype (LoadOptions::kv_dtype).
  mlx::core::Dtype kv_dtype() const { return kv_dtype_; }
  std::size_t weight_bytes() const { return weight_bytes_; }

 private:
  friend class CudaDecoder;  // reads the weights' device memory and the rotation
  struct Layer {
    mlx::core::array input_norm, post_attention_norm;
    kernels::LinearWeight qkv, o, gate_up, down;
  };
  Phi3Model(ModelConfig config, Rope rope, mlx::core::Dtype dtype, mlx::core::Dtype kv_dtype);

  mlx::core::array attention(const mlx::core::array& x, const Layer& layer, int index,
                             std::span<KVCache* const> caches) const;
  mlx::core::array batched_attention(const mlx::core::array& x, const Layer& layer, int index,
                                     BatchKVCache& batch) const;
  // The layers around attention: attend(normed input, layer, index) → the attention output.
  template <class Attend>
  mlx::core::array run_layers(const mlx::core::array& tokens, bool last_only, const Attend& attend) const;

  ModelConfig config_;
  Rope rope_;
  mlx::core::Dtype dtype_;
  mlx::core::Dtype kv_dtype_;
  std::optional<kernels::LinearWeight> embed_, lm_head_;
  std::optional<mlx::core::array> final_norm_;
  std::vector<Layer> layers_;
  std::size_t weight_bytes_ = 0;
};

}  // namespace pensieve::model
