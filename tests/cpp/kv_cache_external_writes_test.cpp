// What model/CudaDecoder relies on in model/KVCache: the whole per-layer storage of an
// unquantized cache, room reserved ahead (grown as update() grows it, keeping the valid
// positions), and an offset moved for positions written outside update(); a later update()
// appends after them. The decoder takes prefilled float16 caches only, and off CUDA declines.
#include <gtest/gtest.h>

#include <mlx/mlx.h>

#include "common/error.h"
#include "kernels/cuda_driver.h"
#include "model/cuda_decoder.h"
#include "model/kv_cache.h"
#include "mlx_test_support.h"

namespace mx = mlx::core;
namespace m = pensieve::model;

namespace {

constexpr int kLayers = 2, kHeads = 2, kDim = 8, kStep = 16;

mx::array positions(int layer, int from, int n) {
  // Position p of layer l holds l * 1000 + p in every element: easy to check after copies.
  auto p = mx::add(mx::arange(from, from + n, mx::float32), mx::array(static_cast<float>(layer * 1000)));
  return mx::astype(mx::broadcast_to(mx::reshape(p, {1, 1, n, 1}), {1, kHeads, n, kDim}), mx::float16);
}

float at(const mx::array& buffer, int position) {
  auto v = mx::astype(mx::slice(buffer, {0, 1, position, 3}, {1, 2, position + 1, 4}), mx::float32);
  return v.item<float>();
}

}  // namespace

TEST(KVCacheExternalWrites, BuffersReserveAndAdvance) {
  m::KVCache cache(kLayers, 0, m::KVCache::kDefaultGroupSize, mx::float16, kStep);
  for (int l = 0; l < kLayers; ++l) cache.update(l, positions(l, 0, 10), positions(l, 0, 10));
  mx::eval(cache.state());
  ASSERT_EQ(cache.offset(), 10);
  ASSERT_EQ(cache.capacity(), kStep);

  auto [keys, values] = cache.float_buffers(1);
  EXPECT_EQ(keys.shape(), (mx::Shape{1, kHeads, kStep, kDim}));
  EXPECT_EQ(values.shape(), keys.shape());
  EXPECT_EQ(at(keys, 9), 1009.0f);

  // Six positions "written by a device decoder": the offset moves, not past the storage.
  cache.advance(6);
  EXPECT_EQ(cache.offset(), 16);
  EXPECT_THROW(cache.advance(1), pensieve::Error);

  // Growing keeps every valid position, including those only advanced over.
  cache.reserve_positions(17);
  EXPECT_GE(cache.capacity(), 17);
  EXPECT_EQ(cache.capacity() % kStep, 0);
  auto grown = cache.float_buffers(1).first;
  EXPECT_EQ(grown.shape(2), cache.capacity());
  EXPECT_EQ(at(grown, 9), 1009.0f);
  EXPECT_EQ(at(cache.float_buffers(0).second, 5), 5.0f);

  // update() continues after the advanced positions.
  for (int l = 0; l < kLayers; ++l) cache.update(l, positions(l, 16, 1), positions(l, 16, 1));
  EXPECT_EQ(cache.offset(), 17);
  EXPECT_EQ(at(cache.float_buffers(1).first, 16), 1016.0f);
}

// A prefix-cache hit hands out a copy that shares the stored entry's buffers; a decoder writing
// positions in place must not change the entry.
TEST(KVCacheExternalWrites, OwnBuffersUnsharesCopies) {
  m::KVCache stored(kLayers, 0, m::KVCache::kDefaultGroupSize, mx::float16, kStep);
  for (int l = 0; l < kLayers; ++l) stored.update(l, positions(l, 0, 10), positions(l, 0, 10));
  mx::eval(stored.state());
  m::KVCache hit = stored;
  hit.trim(4);
  EXPECT_EQ(hit.float_buffers(1).first.data<mx::float16_t>(), stored.float_buffers(1).first.data<mx::float16_t>());
  hit.own_buffers();
  for (int l = 0; l < kLayers; ++l)
    for (auto buffer : {hit.float_buffers(l).first, hit.float_buffers(l).second}) {
      ASSERT_NE(buffer.data<mx::float16_t>(), stored.float_buffers(l).first.data<mx::float16_t>());
      // What a decoder does: its next position written straight into the storage.
      buffer.data<mx::float16_t>()[6 * kDim] = mx::float16_t(-1.0f);
    }
  hit.advance(1);
  EXPECT_EQ(at(stored.float_buffers(0).first, 6), 6.0f);  // the entry keeps its positions
  EXPECT_EQ(at(hit.float_buffers(1).first, 5), 1005.0f);  // the copy keeps the valid ones
  EXPECT_EQ(hit.offset(), 7);
  // A cache that shares nothing keeps its storage.
  const auto* before = stored.float_buffers(0).first.data<mx::float16_t>();
  hit = m::KVCache(kLayers, 0, m::KVCache::kDefaultGroupSize, mx::float16, kStep);
  stored.own_buffers();
  EXPECT_EQ(stored.float_buffers(0).first.data<mx::float16_t>(), before);
}

TEST(KVCacheExternalWrites, QuantizedCachesHaveNoFloatBuffers) {
  m::KVCache cache(kLayers, 8, 8, std::nullopt, kStep);
  cache.update(0, mx::astype(positions(0, 0, 4), mx::float32), mx::astype(positions(0, 0, 4), mx::float32));
  EXPECT_THROW(cache.float_buffers(0), pensieve::Error);
}

TEST(KVCacheExternalWrites, CudaDecoderAcceptsPrefilledFloat16CachesOnly) {
  m::KVCache half(kLayers, 0, m::KVCache::kDefaultGroupSize, mx::float16, kStep);
  EXPECT_FALSE(m::CudaDecoder::accepts(half));  // nothing prefilled yet
  for (int l = 0; l < kLayers; ++l) half.update(l, positions(l, 0, 3), positions(l, 0, 3));
  EXPECT_TRUE(m::CudaDecoder::accepts(half));
  m::KVCache single(kLayers, 0, m::KVCache::kDefaultGroupSize, mx::float32, kStep);
  for (int l = 0; l < kLayers; ++l) single.update(l, positions(l, 0, 3), positions(l, 0, 3));
  EXPECT_FALSE(m::CudaDecoder::accepts(single));
  m::KVCache quantized(kLayers, 8, 8, std::nullopt, kStep);
  for (int l = 0; l < kLayers; ++l) quantized.update(l, positions(l, 0, 3), positions(l, 0, 3));
  EXPECT_FALSE(m::CudaDecoder::accepts(quantized));
}

TEST(KVCacheExternalWrites, CudaDecoderDeclinesOffCuda) {
  if (mx::default_device() == mx::Device::gpu) GTEST_SKIP() << "this checks the CPU build";
  EXPECT_FALSE(m::CudaDecoder::enabled());
  // MLX's CPU build loads no CUDA driver or NVRTC: nothing to find in the process.
  EXPECT_EQ(pensieve::kernels::cuda::CudaDriver::get(), nullptr);
}
