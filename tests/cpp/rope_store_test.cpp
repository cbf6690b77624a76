// The CPU node that rotates a layer's new queries and keys and writes keys and values into the KV
// cache's buffers (kernels::rope_and_store) against the separate nodes it replaces — the heads'
// views of the projection, rotary_embedding, a cast to float16 and mx::slice_update — bit for bit,
// in a buffer MLX may donate (written in place) and in one another array still holds (copied).
#include <gtest/gtest.h>

#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

#include "kernels/rope.h"
#include "model/kv_cache.h"
#include "mlx_test_support.h"

namespace {

using pensieve::test::randn;

namespace mx = mlx::core;
namespace k = pensieve::kernels;

constexpr int H = 4, KV = 2, HD = 16, CAP = 12;

k::RotarySpec spec(int dims) {
  std::vector<float> divisors;
  for (int i = 0; i < dims / 2; ++i) divisors.push_back(1.0f + 3.5f * static_cast<float>(i));
  return k::RotarySpec::from_divisors(dims, divisors, 1.19f);
}

// What the model did before: heads as views of the projection, rotated, cast, written.
struct Reference {
  mx::array q, keys, values;
};
Reference separate_nodes(const mx::array& qkv, const mx::array& keys, const mx::array& values,
                         const k::RotarySpec& s, int offset) {
  const int L = qkv.shape(1);
  auto parts = mx::split(qkv, mx::Shape{H * HD, H * HD + KV * HD}, -1);
  auto heads = [&](const mx::array& a, int n) { return mx::transpose(mx::reshape(a, {1, L, n, HD}), {0, 2, 1, 3}); };
  auto q = k::rotary_embedding(heads(parts[0], H), s, offset);
  auto kr = mx::astype(k::rotary_embedding(heads(parts[1], KV), s, offset), mx::float16);
  auto v = mx::astype(heads(parts[2], KV), mx::float16);
  const mx::Shape start{0, 0, offset, 0}, stop{1, KV, offset + L, HD};
  return {q, mx::slice_update(keys, kr, start, stop), mx::slice_update(values, v, start, stop)};
}

void expect_same_bits(const mx::array& got, const mx::array& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  EXPECT_TRUE(mx::array_equal(got, want).item<bool>());
}

TEST(RopeStoreCpu, SameBitsAsTheSeparateNodes) {
  for (int dims : {HD, HD / 2}) {     // whole heads rotated, and a partial rotation
    for (int L : {1, 3}) {            // a decode step and a chunk
      for (int offset : {0, 5, 9}) {  // positions written past earlier ones
        auto qkv = randn({1, L, (H + 2 * KV) * HD}, 11 + L + offset);
        auto keys = mx::astype(randn({1, KV, CAP, HD}, 21), mx::float16);
        auto values = mx::astype(randn({1, KV, CAP, HD}, 22), mx::float16);
        mx::eval(keys, values);
        auto want = separate_nodes(qkv, keys, values, spec(dims), offset);
        mx::eval(want.q, want.keys, want.values);
        auto got = k::rope_and_store(qkv, keys, values, H, KV, spec(dims), offset);
        ASSERT_EQ(got.size(), 3u);
        EXPECT_STREQ(got[0].primitive().name(), "PensieveCpuRopeStore");
        expect_same_bits(got[0], want.q);
        expect_same_bits(got[1], want.keys);
        expect_same_bits(got[2], want.values);
      }
    }
  }
}

TEST(RopeStoreCpu, ReadsTheProjectionThroughAView) {
  // The projection as a column slice of a wider array (a strided view).
  auto wide = randn({1, 2, (H + 2 * KV) * HD + 8}, 31);
  auto qkv = mx::slice(wide, {0, 0, 4}, {1, 2, (H + 2 * KV) * HD + 4});
  auto keys = mx::zeros({1, KV, CAP, HD}, mx::float16);
  auto values = mx::zeros({1, KV, CAP, HD}, mx::float16);
  mx::eval(keys, values);
  auto want = separate_nodes(qkv, keys, values, spec(HD), 2);
  auto got = k::rope_and_store(qkv, keys, values, H, KV, spec(HD), 2);
  expect_same_bits(got[0], want.q);
  expect_same_bits(got[1], want.keys);
  expect_same_bits(got[2], want.values);
}

TEST(RopeStoreCpu, WritesInPlaceOnlyWhereNothingElseHoldsTheBuffer) {
  auto qkv = randn({1, 1, (H + 2 * KV) * HD}, 41);
  auto values = mx::zeros({1, KV, CAP, HD}, mx::float16);
  // Held by `kept` as well: the node must copy, and `kept` keeps its zeros.
  auto keys = mx::zeros({1, KV, CAP, HD}, mx::float16);
  mx::eval(keys, values);
  const mx::array kept = keys;
  auto got = k::rope_and_store(qkv, keys, values, H, KV, spec(HD), 3);
  mx::eval(got);
  EXPECT_NE(got[1].data<void>(), kept.data<void>());
  EXPECT_EQ(mx::max(mx::abs(mx::astype(kept, mx::float32))).item<float>(), 0.0f);
  EXPECT_GT(mx::max(mx::abs(mx::astype(got[1], mx::float32))).item<float>(), 0.0f);

  // Held by nothing but the node once the caller lets go (as the KV cache does, keeping the
  // node's outputs instead): written in place, MLX donating the buffer.
  auto fresh = mx::astype(randn({1, KV, CAP, HD}, 42), mx::float16);  // dense (zeros would be a broadcast)
  mx::eval(fresh);
  const void* before = fresh.data<void>();
  auto outs = k::rope_and_store(qkv, fresh, mx::zeros({1, KV, CAP, HD}, mx::float16), H, KV, spec(HD), 3);
  fresh = mx::array(0.0f);
  mx::eval(outs);
  EXPECT_EQ(outs[1].data<void>(), before);
}

TEST(RopeStoreCpu, DecodeStepsWriteTheCacheInPlaceAsUpdateDoes) {
  // As the model uses it: a prefilled cache, then one position a step through buffers_to_write,
  // rope_and_store and written. Each step writes into the same buffer (no copy a step), and the
  // cache holds what update() with the separate nodes stores.
  namespace m = pensieve::model;
  m::KVCache fused(1, 0, m::KVCache::kDefaultGroupSize, mx::float16, 16);
  m::KVCache separate(1, 0, m::KVCache::kDefaultGroupSize, mx::float16, 16);
  auto prompt = randn({1, KV, 3, HD}, 51);
  for (auto* c : {&fused, &separate}) {
    c->update(0, prompt, prompt);
    mx::eval(c->state());
  }
  const void* buffer = nullptr;
  for (int step = 0; step < 4; ++step) {
    auto qkv = randn({1, 1, (H + 2 * KV) * HD}, 60 + step);
    const int offset = fused.offset();
    auto buffers = fused.buffers_to_write(0, 1);
    ASSERT_TRUE(buffers.has_value());
    auto outs = k::rope_and_store(qkv, buffers->first, buffers->second, H, KV, spec(HD), offset);
    buffers.reset();
    auto stored = fused.written(0, outs[1], outs[2], 1);
    mx::eval(outs[0], stored.keys, stored.values);
    if (step == 0) buffer = stored.keys.data<void>();
    EXPECT_EQ(stored.keys.data<void>(), buffer) << "step " << step;
    EXPECT_EQ(fused.offset(), offset + 1);

    auto parts = mx::split(qkv, mx::Shape{H * HD, H * HD + KV * HD}, -1);
    auto heads = [&](const mx::array& a) { return mx::transpose(mx::reshape(a, {1, 1, KV, HD}), {0, 2, 1, 3}); };
    auto ref = separate.update(0, k::rotary_embedding(heads(parts[1]), spec(HD), offset), heads(parts[2]));
    expect_same_bits(outs[0], k::rotary_embedding(mx::transpose(mx::reshape(parts[0], {1, 1, H, HD}), {0, 2, 1, 3}),
                                                  spec(HD), offset));
    expect_same_bits(stored.keys, ref.keys);
    expect_same_bits(stored.values, ref.values);
  }
}

}  // namespace
