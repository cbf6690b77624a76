#pragma once
// Keys and values of the sequences that decode together, in one buffer per layer
// ([rows, kv_heads, columns, head_dim]), so that a batched decode step stores the new position
// of every sequence with one update and runs attention once for the whole batch. With a cache per
// sequence (KVCache), a step of B sequences costs every layer B cache updates and B attention
// calls — on a GPU, kernels of a few microseconds each, which is what kept 32 streams near the
// speed of one.
//
// Rows are right-aligned: every row's next position is written at the same column `end`, and a
// row holding n positions starts at column end - n (its padding before that is masked out).
// A sequence joins by moving its KVCache's positions into a free row and leaves by moving them
// back (for the prefix cache). Rows are allocated in powers of two, so the step's batch size, and
// with it the shapes MLX compiles kernels for, takes few values; a free row decodes a dummy token
// that sees only its own position. When half the rows are free, or every row has padding in
// front, the buffers are rebuilt without them.
//
// Unquantized keys and values only (KVCache with kv_bits 0).
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include <mlx/mlx.h>

#include "model/kv_cache.h"

namespace pensieve::model {

class BatchKVCache {
 public:
  using Key = const void*;  // whatever identifies a sequence to the caller

  explicit BatchKVCache(int num_layers, int step = 256);

  // Moves the positions of `cache` (kv_bits 0, at least one position) into a free row for `key`
  // and leaves `cache` empty (offset 0: its storage is released).
  void add(Key key, KVCache& cache);
  // Frees key's row; with `cache` (empty, as add left it) its first `length` positions (-1: all)
  // move back there first.
  void remove(Key key, KVCache* cache, int length = -1);
  bool contains(Key key) const;
  int row_of(Key key) const;
  // Positions stored for key's sequence.
  int length(Key key) const;

  // Rows the buffers hold, free ones included: the batch size of a step.
  int rows() const { return static_cast<int>(rows_.size()); }
  int live_rows() const;

  // Before a step's forward pass: makes room for one more column and prepares the arrays below.
  void begin_step();
  // Whether begin_step() must grow the buffers (new arrays: their old storage is released).
  bool full() const { return end_ + 1 > columns_; }
  // The column every row's new position goes to in this step, and the buffers' column count.
  int column() const { return end_; }
  int columns() const { return columns_; }
  // Ends a step whose new positions a kernel wrote into the buffers in place (model::CudaDecoder)
  // instead of update().
  void end_step_written();
  // Row r's new token is at position positions()[r] (0 for a free row); the same as an int32 array.
  const std::vector<int>& positions() const { return positions_; }
  const mlx::core::array& positions_array() const { return *positions_array_; }
  // [rows, 1, 1, columns] bool, true where a row's keys are: unset when no row has padding.
  const std::optional<mlx::core::array>& mask() const { return mask_; }
  // int32 [rows, 3]: the columns [start, stop) row r sees in this step (its positions and the new
  // one) and the buffers' column count, for kernels that read the whole buffers (attention_cuda).
  const mlx::core::array& spans() const { return *spans_; }
  // The whole buffers of a layer after its update this step: [rows, kv_heads, capacity, head_dim].
  std::pair<mlx::core::array, mlx::core::array> buffers(int layer) const;
  // k, v: [rows, kv_heads, 1, head_dim] of this step. Returns every row's keys and values so far
  // ([rows, kv_heads, end + 1, head_dim], in the cache's dtype). The last layer ends the step.
  std::pair<mlx::core::array, mlx::core::array> update(int layer, const mlx::core::array& k,
                                                       const mlx::core::array& v);

  std::vector<mlx::core::array> state() const;
  std::size_t nbytes() const;

 private:
  struct Row {
    Key key = nullptr;  // null: free
    int pad = 0;        // columns before the row's first position
  };
  struct Layer {
    std::optional<mlx::core::array> keys, values;
  };
  int free_row();
  void grow_rows(int wanted);
  void grow_columns(int wanted);
  void shift_right(int columns);
  // Columns in front that every live row has as padding.
  int shared_padding() const;
  // Keeps the live rows only (in a power-of-two number of rows) and drops the padding they share.
  void compact();
  void clear();

  std::vector<Layer> layers_;
  std::vector<Row> rows_;
  int step_;
  int end_ = 0;      // column of the next position
  int columns_ = 0;  // allocated
  bool in_step_ = false;
  std::vector<int> positions_;
  std::optional<mlx::core::array> positions_array_, mask_, spans_;
};

}  // namespace pensieve::model
