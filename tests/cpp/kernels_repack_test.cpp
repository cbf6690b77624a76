// The direct tiled16 repack (kernels/repack.h) against MLX's own reshape/transpose version
// (to_tiled16), byte for byte, on MLX-quantized weights (4 and 8 bits) and their scales and
// biases (group sizes 32, 64, 128; float16, bfloat16, float32), plus other element sizes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <mlx/mlx.h>

#include "kernels/cpu_layout.h"
#include "kernels/repack.h"
#include "mlx_test_support.h"

namespace mx = mlx::core;
namespace k = pensieve::kernels;

namespace {

using pensieve::test::bytes_of;

// Repacks `a` through a reader over a copy of its bytes placed `misalign` bytes into a buffer
// (a file's tensor need not be aligned to its element size).
mx::array repack_via_reader(const mx::array& a, std::size_t misalign = 0) {
  const auto src = bytes_of(a);
  std::vector<unsigned char> buffer(misalign + src.size());
  std::memcpy(buffer.data() + misalign, src.data(), src.size());
  auto out = k::tiled16_array(
      [&](std::size_t offset, std::size_t n, void* into) {
        if (offset + n > src.size()) return false;
        std::memcpy(into, buffer.data() + misalign + offset, n);
        return true;
      },
      a.shape(0), a.shape(1), a.dtype());
  EXPECT_TRUE(out.has_value());
  return *out;
}

void expect_same_as_mlx_repack(const mx::array& a) {
  SCOPED_TRACE("shape [" + std::to_string(a.shape(0)) + ", " + std::to_string(a.shape(1)) + "], " +
               std::to_string(a.itemsize()) + "-byte elements");
  const auto reference = bytes_of(k::to_tiled16(a));
  for (std::size_t misalign : {0, 1, 3}) {
    const auto tiled = repack_via_reader(a, misalign);
    EXPECT_EQ(tiled.shape(), a.shape());
    EXPECT_EQ(tiled.dtype(), a.dtype());
    EXPECT_EQ(bytes_of(tiled), reference) << "misaligned by " << misalign;
    // And back: from_tiled16 undoes it.
    EXPECT_EQ(bytes_of(k::from_tiled16(tiled)), bytes_of(a));
  }
  // The in-memory form gives the same bytes.
  const auto src = bytes_of(a);
  std::vector<unsigned char> dst(src.size());
  k::repack_tiled16(src.data(), dst.data(), a.shape(0), a.shape(1), a.itemsize());
  EXPECT_EQ(dst, reference);
}

TEST(KernelsRepack, QuantizedWeightsScalesAndBiasesMatchMlxRepack) {
  uint64_t seed = 700;
  // N up to several pool tasks' worth (256 KB each) so that the split across threads is covered.
  for (int N : {16, 48, 3072}) {
    for (int bits : {4, 8}) {
      for (int group : {32, 64, 128}) {
        const int K = 384;
        auto w = mx::random::normal({N, K}, mx::float32, 0.0f, 1.0f, mx::random::key(seed++));
        auto q = mx::quantize(w, group, bits, "affine");
        expect_same_as_mlx_repack(q[0]);  // uint32 codes
        for (auto dtype : {mx::float16, mx::bfloat16, mx::float32}) {
          expect_same_as_mlx_repack(mx::astype(q[1], dtype));  // scales
          expect_same_as_mlx_repack(mx::astype(q[2], dtype));  // biases
        }
      }
    }
  }
}

TEST(KernelsRepack, OtherElementSizesAndOddWidths) {
  auto key = mx::random::key(800);
  auto ints = mx::random::randint(0, 1 << 30, {64, 77}, mx::int32, key);
  expect_same_as_mlx_repack(ints);
  expect_same_as_mlx_repack(mx::astype(ints, mx::uint8));
  expect_same_as_mlx_repack(mx::astype(ints, mx::int64));
  expect_same_as_mlx_repack(mx::random::randint(0, 1000, {16, 1}, mx::int32, key));
  // Wider than one column block, and a single tile larger than one pool task.
  expect_same_as_mlx_repack(mx::random::randint(0, 1 << 30, {32, 5000}, mx::uint32, key));
}

TEST(KernelsRepack, ReportsAFailedRead) {
  auto out = k::tiled16_array([](std::size_t, std::size_t, void*) { return false; }, 32, 8, mx::uint32);
  EXPECT_FALSE(out.has_value());
}

TEST(KernelsRepack, RejectsRowsNotAMultipleOf16) {
  std::vector<uint32_t> src(24 * 4), dst(24 * 4);
  EXPECT_THROW(k::repack_tiled16(src.data(), dst.data(), 24, 4, 4), std::invalid_argument);
}

}  // namespace
