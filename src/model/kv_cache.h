#pragma once
// Per-sequence key/value cache. Storage grows in steps of `step` positions (one reallocation per
// step, not per token); update writes the new positions in place and returns views of the valid
// prefix.
#include <optional>
#include <utility>
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::model {

class KVCache {
 public:
  explicit KVCache(int num_layers, int step = 256);

  // k, v: [B, kv_heads, L, head_dim] for positions offset()..offset()+L-1 of `layer`.
  // Returns all keys and values of the layer so far. Each layer is updated once per pass;
  // the offset moves when the last layer has been updated.
  std::pair<mlx::core::array, mlx::core::array> update(int layer, const mlx::core::array& k,
                                                        const mlx::core::array& v);
  int offset() const { return offset_; }
  int capacity() const;
  // Drops the last n positions (prefix reuse, speculative rollback).
  void trim(int n);
  // The arrays that hold state, for mx::eval between prefill chunks.
  std::vector<mlx::core::array> state() const;
  std::size_t nbytes() const;

 private:
  struct Layer {
    std::optional<mlx::core::array> keys, values;
  };
  std::vector<Layer> layers_;
  int step_;
  int offset_ = 0;
};

}  // namespace pensieve::model
