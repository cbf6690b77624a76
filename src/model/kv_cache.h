#pragma once
// Per-sequence key/value cache. Storage grows in steps of `step` positions (one reallocation per
// step, not per token); update writes the new positions in place and returns the whole stored
// buffers with their valid length, which the attention kernel reads directly.
//
// With kv_bits 8 or 4, keys and values are stored affine-quantized like mlx-lm's
// QuantizedKVCache (mx::quantize of each appended chunk, groups of 32 along head_dim), with the
// scales and biases kept in float16: that halves their share of the storage against float32.
#include <cstddef>
#include <vector>

#include <mlx/mlx.h>

#include "kernels/attention.h"

namespace pensieve::model {

class KVCache {
 public:
  static constexpr int kGroupSize = 32;  // head_dim 96 (Phi-3) rules out 64

  // kv_bits: 0 (keys and values stored in their own dtype), 8 or 4.
  explicit KVCache(int num_layers, int kv_bits = 0, int step = 256);

  // k, v: [B, kv_heads, L, head_dim] for positions offset()..offset()+L-1 of `layer`.
  // Returns all keys and values of the layer so far. Each layer is updated once per pass;
  // the offset moves when the last layer has been updated.
  kernels::StoredKV update(int layer, const mlx::core::array& k, const mlx::core::array& v);

  // The stored form of k or v ([B, kv_heads, L, head_dim]): {k} or {packed, scales, biases}.
  std::vector<mlx::core::array> encode(const mlx::core::array& x) const;
  // update() with keys and values already in the stored form (synthetic fills for benchmarks).
  kernels::StoredKV append_encoded(int layer, const std::vector<mlx::core::array>& keys,
                                   const std::vector<mlx::core::array>& values);
  // Grows every layer's storage to hold at least `positions` without further reallocation (the
  // layers must have been updated once, so their shapes are known).
  void reserve(int positions);

  int bits() const { return bits_; }
  int offset() const { return offset_; }
  int capacity() const;
  // Drops the last n positions (prefix reuse, speculative rollback).
  void trim(int n);
  // The arrays that hold state, for mx::eval between prefill chunks.
  std::vector<mlx::core::array> state() const;
  // Bytes of storage held (whole buffers, including room not yet used).
  std::size_t nbytes() const;

  // Bytes one position takes in one layer's keys plus values.
  static std::size_t bytes_per_position(int kv_heads, int head_dim, mlx::core::Dtype dtype, int kv_bits);

 private:
  struct Layer {
    std::vector<mlx::core::array> keys, values;  // stored form (see encode); empty until used
  };
  void grow(Layer& l, int needed);
  kernels::StoredKV stored(const Layer& l, int length) const;

  std::vector<Layer> layers_;
  int bits_;
  int step_;
  int offset_ = 0;
};

}  // namespace pensieve::model
