#pragma once
// Per-sequence key/value cache. Storage is allocated once for the expected length when it is
// known (reserve_hint: the prompt plus some generation), and past it grows geometrically (by half,
// in multiples of `step` positions, up to limit_capacity), so a long prompt costs one allocation
// or a few copies, never one per chunk; update writes the new positions in place and returns the
// whole stored buffers with their valid length, which the attention kernel reads directly.
//
// With kv_bits 0, keys and values are stored as `float_dtype` (default_float_dtype: float16 for
// float32 activations on the CPU — half the bytes every decode step reads, as llama.cpp stores
// them — the activations' own dtype on a GPU). The CPU attention kernel reads float16 rows
// directly.
//
// With kv_bits 8 or 4, keys and values are stored affine-quantized like mlx-lm's
// QuantizedKVCache (groups of group_size along head_dim: mx::quantize for 32/64/128, the same
// layout through MLX's ordinary ops for other groups such as 96 = a whole Phi-3 head row), with
// the scales and biases kept in float16: that halves their share of the storage against float32.
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include <mlx/mlx.h>

#include "kernels/attention.h"

namespace pensieve::model {

class KVCache {
 public:
  // mlx-lm's group; with head_dim 96 (Phi-3) the other choice is 96 (whole rows, fewer bits).
  static constexpr int kDefaultGroupSize = 32;
  // Generated positions reserved with a prompt: a request's max_tokens is often far more than
  // it uses (or unset: the whole context), so storage past this grows as it is needed.
  static constexpr int kGenerationReserve = 1024;

  // kv_bits: 0 (float keys and values), 8 or 4; group_size: quantization group along head_dim
  // (ignored for kv_bits 0; must divide head_dim, checked on first update); float_dtype: the
  // dtype kv_bits 0 stores (keys and values are converted to it), unset: the dtype they come in.
  explicit KVCache(int num_layers, int kv_bits = 0, int group_size = kDefaultGroupSize,
                   std::optional<mlx::core::Dtype> float_dtype = std::nullopt, int step = 256);
  // The unquantized storage for `activations` on `device`: float16 for float32 on the CPU (a
  // rounding of at most 2^-11 of each value, for half the bytes), else the activations' dtype.
  static mlx::core::Dtype default_float_dtype(mlx::core::Dtype activations, mlx::core::Device device);
  // Throws pensieve::Error for bits other than 0/4/8 or a group that cannot divide head_dim.
  static void validate(int kv_bits, int group_size, int head_dim);

  // k, v: [B, kv_heads, L, head_dim] for positions offset()..offset()+L-1 of `layer`.
  // Returns all keys and values of the layer so far. Each layer is updated once per pass;
  // the offset moves when the last layer has been updated.
  kernels::StoredKV update(int layer, const mlx::core::array& k, const mlx::core::array& v);

  // The stored form of k or v ([B, kv_heads, L, head_dim]): {k} or {packed, scales, biases}.
  std::vector<mlx::core::array> encode(const mlx::core::array& x) const;
  // update() with keys and values already in the stored form (synthetic fills for benchmarks).
  kernels::StoredKV append_encoded(int layer, const std::vector<mlx::core::array>& keys,
                                   const std::vector<mlx::core::array>& values);
  // For one node that writes a layer's new positions itself (kernels::rope_and_store): the layer's
  // float16 buffers {keys, values} grown for n more positions as update() grows them, or nothing
  // where update() must take them (quantized or float32 storage, nothing stored yet); then
  // written() with the buffers that node made, which ends the update as update() does.
  std::optional<std::pair<mlx::core::array, mlx::core::array>> buffers_to_write(int layer, int n);
  kernels::StoredKV written(int layer, const mlx::core::array& keys, const mlx::core::array& values, int n);
  // The storage to allocate at the first update (or the next growth): room for `positions` at
  // once instead of growing towards it.
  void reserve_hint(int positions) { hint_ = positions; }
  // Geometric growth stops at `positions` (the most the sequence was admitted for), 0: no limit.
  void limit_capacity(int positions) { limit_ = positions; }

  // Drops reserved room past the valid positions (rounded up to `step`): one copy of the valid
  // part, before a finished sequence's cache is kept for reuse.
  void shrink_to_fit();

  // For a decoder that writes positions itself (model/CudaDecoder), unquantized caches only:
  // the whole storage of a layer, {keys, values} [B, kv_heads, capacity(), head_dim];
  std::pair<mlx::core::array, mlx::core::array> float_buffers(int layer) const;
  // room for `positions` in every layer (grown as update() would grow it), evaluated;
  void reserve_positions(int positions);
  // and n positions written into the buffers past offset(): the offset moves. Before writing:
  // buffers that another cache shares (a prefix-cache entry and the copy a hit hands out share
  // theirs; MLX's own updates never write into shared arrays) are replaced by private copies,
  // evaluated.
  void advance(int n);
  void own_buffers();

  int bits() const { return bits_; }
  int group_size() const { return group_size_; }
  std::optional<mlx::core::Dtype> float_dtype() const { return float_dtype_; }
  int offset() const { return offset_; }
  int capacity() const;
  // Drops the last n positions (prefix reuse, speculative rollback).
  void trim(int n);
  // The arrays that hold state, for mx::eval between prefill chunks.
  std::vector<mlx::core::array> state() const;
  // Bytes of storage held (whole buffers, including room not yet used).
  std::size_t nbytes() const;

  // Bytes one position takes in one layer's keys plus values; float_dtype: what kv_bits 0 stores.
  static std::size_t bytes_per_position(int kv_heads, int head_dim, mlx::core::Dtype float_dtype, int kv_bits,
                                        int group_size = kDefaultGroupSize);

 private:
  struct Layer {
    std::vector<mlx::core::array> keys, values;  // stored form (see encode); empty until used
  };
  void grow(Layer& l, int needed);
  kernels::StoredKV stored(const Layer& l, int length) const;
  // The layer holds positions up to `end`: the offset moves after the last layer.
  kernels::StoredKV end_update(int layer, int end);

  std::vector<Layer> layers_;
  int bits_;
  int group_size_;
  std::optional<mlx::core::Dtype> float_dtype_;
  int step_;
  int hint_ = 0;
  int limit_ = 0;
  int offset_ = 0;
};

}  // namespace pensieve::model
