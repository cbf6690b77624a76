// The decode batch's shared buffers (model/batch_kv_cache.h) against each sequence's own history:
// whatever order sequences join and leave in, every live row holds exactly its sequence's keys
// and values right-aligned at the step's column, the mask shows exactly those, attention over the
// batch equals attention over each sequence alone, and a leaving sequence gets its positions back.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include <mlx/mlx.h>

#include "common/error.h"
#include "model/batch_kv_cache.h"
#include "model/kv_cache.h"
#include "mlx_test_support.h"

namespace mx = mlx::core;
namespace m = pensieve::model;
using pensieve::test::relative_difference;

namespace {

constexpr int kLayers = 2, kHeads = 2, kDim = 8;

mx::array randn(mx::Shape shape) {
  static uint64_t seed = 1;
  return pensieve::test::randn(std::move(shape), seed++);
}

// One sequence: its own positions per layer (the truth) and its cache while not in the batch.
struct Seq {
  std::vector<mx::array> keys, values;  // per layer, [1, kHeads, n, kDim]
  m::KVCache cache{kLayers, 0, m::KVCache::kDefaultGroupSize, std::nullopt};
  int length() const { return keys.empty() ? 0 : keys[0].shape(2); }
};

Seq prefilled(int n) {
  Seq s;
  for (int l = 0; l < kLayers; ++l) {
    s.keys.push_back(randn({1, kHeads, n, kDim}));
    s.values.push_back(randn({1, kHeads, n, kDim}));
    s.cache.update(l, s.keys.back(), s.values.back());
  }
  return s;
}

mx::array row_part(const mx::array& a, int row, int from, int to) {
  return mx::slice(a, {row, 0, from, 0}, {row + 1, a.shape(1), to, a.shape(3)});
}

void expect_same(const mx::array& a, const mx::array& b) {
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_TRUE(mx::array_equal(a, b).item<bool>());
}

// One decode step for the live sequences: new random k, v per row; checks every row's stored
// positions, the mask and attention against each sequence alone.
void step(m::BatchKVCache& batch, std::map<const Seq*, Seq*>& live) {
  batch.begin_step();
  const int rows = batch.rows();
  for (auto& [key, s] : live) EXPECT_EQ(batch.positions()[batch.row_of(key)], s->length());
  for (int l = 0; l < kLayers; ++l) {
    auto k = randn({rows, kHeads, 1, kDim}), v = randn({rows, kHeads, 1, kDim});
    auto q = randn({rows, kHeads, 1, kDim});
    auto [keys, values] = batch.update(l, k, v);
    const int columns = keys.shape(2);
    const auto [all_keys, all_values] = batch.buffers(l);
    EXPECT_EQ(all_keys.shape(2), all_values.shape(2));
    expect_same(mx::slice(all_keys, {0, 0, 0, 0}, {rows, kHeads, columns, kDim}), keys);
    auto out = mx::fast::scaled_dot_product_attention(q, keys, values, 0.3f, "", batch.mask());
    for (auto& [key, s] : live) {
      const int r = batch.row_of(key);
      s->keys[l] = mx::concatenate({s->keys[l], row_part(k, r, 0, 1)}, 2);
      s->values[l] = mx::concatenate({s->values[l], row_part(v, r, 0, 1)}, 2);
      const int n = s->length();
      // The span a kernel reading the whole buffers is given: exactly the row's positions.
      auto span = mx::slice(batch.spans(), {r, 0}, {r + 1, 3});
      expect_same(span, mx::array({columns - n, columns, all_keys.shape(2)}, {1, 3}, mx::int32));
      expect_same(row_part(keys, r, columns - n, columns), s->keys[l]);
      expect_same(row_part(values, r, columns - n, columns), s->values[l]);
      if (columns > n) {  // padding in front is masked out, the row's own positions are not
        ASSERT_TRUE(batch.mask().has_value());
        auto mask = mx::reshape(row_part(*batch.mask(), r, 0, columns), {columns});
        EXPECT_FALSE(mx::any(mx::slice(mask, {0}, {columns - n})).item<bool>());
        EXPECT_TRUE(mx::all(mx::slice(mask, {columns - n}, {columns})).item<bool>());
      }
      auto alone = mx::fast::scaled_dot_product_attention(mx::slice(q, {r, 0, 0, 0}, {r + 1, kHeads, 1, kDim}),
                                                          s->keys[l], s->values[l], 0.3f);
      EXPECT_LT(relative_difference(row_part(out, r, 0, 1), alone), 1e-5);
    }
  }
}

}  // namespace

TEST(BatchKVCache, RowsOfDifferentLengthsJoinLeaveAndCompact) {
  m::BatchKVCache batch(kLayers, /*step=*/16);
  std::vector<Seq> seqs;
  seqs.reserve(8);
  for (int n : {5, 3, 40, 9, 1, 12}) seqs.push_back(prefilled(n));
  std::map<const Seq*, Seq*> live;
  auto join = [&](int i) {
    batch.add(&seqs[i], seqs[i].cache);
    EXPECT_EQ(seqs[i].cache.offset(), 0);  // its storage moved into the batch
    live[&seqs[i]] = &seqs[i];
  };
  auto leave = [&](int i, bool keep) {
    batch.remove(&seqs[i], keep ? &seqs[i].cache : nullptr);
    live.erase(&seqs[i]);
    if (!keep) return;
    // Its positions are back in its own cache, exactly.
    const int n = seqs[i].length();
    EXPECT_EQ(seqs[i].cache.offset(), n);
    const auto state = seqs[i].cache.state();
    for (int l = 0; l < kLayers; ++l) {
      expect_same(mx::slice(state[2 * l], {0, 0, 0, 0}, {1, kHeads, n, kDim}), seqs[i].keys[l]);
      expect_same(mx::slice(state[2 * l + 1], {0, 0, 0, 0}, {1, kHeads, n, kDim}), seqs[i].values[l]);
    }
  };

  join(0);
  EXPECT_EQ(batch.rows(), 1);
  EXPECT_FALSE(batch.mask().has_value());
  step(batch, live);
  join(1);  // shorter: padded in front
  step(batch, live);
  join(2);  // longer than every row: the others move right
  EXPECT_EQ(batch.rows(), 4);  // rows come in powers of two
  for (int i = 0; i < 3; ++i) step(batch, live);
  join(3);
  join(4);
  EXPECT_EQ(batch.rows(), 8);
  step(batch, live);
  // A free row decodes a placeholder at position 0 that sees only itself.
  EXPECT_EQ(batch.live_rows(), 5);
  for (int r = 0; r < batch.rows(); ++r) {
    bool used = false;
    for (auto& [key, s] : live) used = used || batch.row_of(key) == r;
    if (!used) {
      EXPECT_EQ(batch.positions()[r], 0);
    }
  }
  leave(1, true);
  step(batch, live);
  leave(2, true);  // the longest goes: the padding every other row has in front is dropped
  leave(0, false);
  EXPECT_EQ(batch.rows(), 2);  // two live rows of eight: compacted
  step(batch, live);
  join(5);  // a free row is reused
  for (int i = 0; i < 20; ++i) step(batch, live);  // past the allocated columns
  leave(3, true);
  leave(4, true);
  leave(5, true);
  EXPECT_EQ(batch.rows(), 0);
  EXPECT_EQ(batch.nbytes(), 0u);
}

TEST(BatchKVCache, RefusesWhatItCannotHold) {
  m::BatchKVCache batch(kLayers);
  Seq empty;
  EXPECT_THROW(batch.add(&empty, empty.cache), pensieve::Error);
  m::KVCache quantized(kLayers, 8, 32);
  for (int l = 0; l < kLayers; ++l) quantized.update(l, randn({1, kHeads, 4, 32}), randn({1, kHeads, 4, 32}));
  EXPECT_THROW(batch.add(&quantized, quantized), pensieve::Error);
  EXPECT_THROW(batch.begin_step(), pensieve::Error);
}

// A kernel that writes each step's new column in place (model::CudaDecoder's batch mode) instead
// of update(): full() says exactly when begin_step() grows the buffers, column() is where the
// step's positions go, and after end_step_written() the next steps (MLX's own) and a sequence
// leaving with its positions all see what was written.
TEST(BatchKVCache, StepsWrittenInPlaceByAKernel) {
  m::BatchKVCache batch(kLayers, /*step=*/16);
  std::vector<Seq> seqs;
  seqs.reserve(2);
  for (int n : {5, 11}) seqs.push_back(prefilled(n));
  std::map<const Seq*, Seq*> live;
  for (auto& s : seqs) {
    batch.add(&s, s.cache);
    live[&s] = &s;
  }
  EXPECT_THROW(batch.end_step_written(), pensieve::Error);  // outside a step
  bool grew = false;
  for (int step_index = 0; step_index < 12; ++step_index) {  // past the 16 columns first allocated
    const bool full = batch.full();
    const int columns_before = batch.columns();
    batch.begin_step();
    EXPECT_EQ(batch.columns() != columns_before, full);
    grew = grew || full;
    const int column = batch.column();
    for (auto& [key, s] : live) EXPECT_EQ(batch.positions()[batch.row_of(key)], s->length());
    mx::eval(batch.state());
    for (int l = 0; l < kLayers; ++l) {
      auto [keys, values] = batch.buffers(l);
      const int rows = keys.shape(0), columns = keys.shape(2);
      ASSERT_EQ(columns, batch.columns());
      auto k = randn({rows, kHeads, 1, kDim}), v = randn({rows, kHeads, 1, kDim});
      mx::eval(k, v);
      for (auto [buffer, src] : {std::pair{&keys, &k}, std::pair{&values, &v}}) {
        float* out = buffer->data<float>();  // the batch's own storage
        const float* in = src->data<float>();
        for (int r = 0; r < rows; ++r)
          for (int h = 0; h < kHeads; ++h)
            for (int d = 0; d < kDim; ++d)
              out[((static_cast<std::size_t>(r) * kHeads + h) * columns + column) * kDim + d] = in[(r * kHeads + h) * kDim + d];
      }
      for (auto& [key, s] : live) {
        const int r = batch.row_of(key);
        s->keys[l] = mx::concatenate({s->keys[l], row_part(k, r, 0, 1)}, 2);
        s->values[l] = mx::concatenate({s->values[l], row_part(v, r, 0, 1)}, 2);
      }
    }
    batch.end_step_written();
    EXPECT_EQ(batch.column(), column + 1);
  }
  EXPECT_TRUE(grew);
  step(batch, live);  // MLX's step over what the kernel wrote: every row's positions as its truth
  for (auto& s : seqs) {
    batch.remove(&s, &s.cache);
    const int n = s.length();
    ASSERT_EQ(s.cache.offset(), n);
    const auto state = s.cache.state();
    for (int l = 0; l < kLayers; ++l) {
      expect_same(mx::slice(state[2 * l], {0, 0, 0, 0}, {1, kHeads, n, kDim}), s.keys[l]);
      expect_same(mx::slice(state[2 * l + 1], {0, 0, 0, 0}, {1, kHeads, n, kDim}), s.values[l]);
    }
  }
}
