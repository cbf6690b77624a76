// linear(): which implementation runs (the Pensieve CPU kernel for supported formats on the CPU,
// MLX's op otherwise) and that both agree with a float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

#include "kernels/cpu_layout.h"
#include "kernels/linear.h"
#include "kernels/swiglu_cpu.h"

namespace mx = mlx::core;
namespace k = pensieve::kernels;

namespace {

k::LinearWeight quantized_weight(int N, int K, int bits, int group, uint64_t seed) {
  auto wf = mx::multiply(mx::random::normal({N, K}, mx::float32, 0.0f, 1.0f, mx::random::key(seed)),
                         mx::array(0.05f));
  auto q = mx::quantize(wf, group, bits, "affine");
  // As stored in model files: float16 scales and biases.
  k::LinearWeight w{q[0], mx::astype(q[1], mx::float16), mx::astype(q[2], mx::float16), group, bits};
  mx::eval({w.weight, *w.scales, *w.biases});
  return w;
}

// The weight dequantized by MLX, whatever its layout: [out, in] float32.
mx::array dequantized(const k::LinearWeight& w) {
  const bool tiled = w.layout == k::WeightLayout::tiled16;
  auto un = [&](const mx::array& a) { return tiled ? k::from_tiled16(a) : a; };
  return mx::dequantize(un(w.weight), mx::astype(un(*w.scales), mx::float32),
                        mx::astype(un(*w.biases), mx::float32), w.group_size, w.bits, "affine");
}

// ‖linear(x, w) − x · dequantize(w)ᵀ‖ / ‖reference‖, the reference in float64.
double relative_error_vs_reference(const mx::array& x, const k::LinearWeight& w) {
  const int K = w.in_features(), N = w.out_features();
  auto y = mx::astype(k::linear(x, w), mx::float32);
  auto wd = dequantized(w);
  auto x2 = mx::astype(mx::reshape(x, {-1, K}), mx::float32);
  y = mx::reshape(y, {-1, N});
  mx::eval({y, wd, x2});
  const int M = x2.shape(0);
  double num = 0, den = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double ref = 0;
      for (int kk = 0; kk < K; ++kk) ref += double(x2.data<float>()[m * K + kk]) * wd.data<float>()[n * K + kk];
      const double d = y.data<float>()[m * N + n] - ref;
      num += d * d;
      den += ref * ref;
    }
  return std::sqrt(num / den);
}

class KernelsLinear : public ::testing::Test {
 protected:
  void SetUp() override { mx::set_default_device(mx::Device::cpu); }
};

TEST_F(KernelsLinear, CpuFloat32TakesTheKernel) {
  auto w = k::with_float_dtype(quantized_weight(32, 256, 4, 64, 1), mx::float32);
  EXPECT_EQ(w.scales->dtype(), mx::float16);  // kept as stored: the kernel reads float16
  EXPECT_EQ(w.layout, k::tiled_layout_supported() ? k::WeightLayout::tiled16 : k::WeightLayout::rows);
  auto x = mx::random::normal({2, 3, 256}, mx::float32, 0.0f, 1.0f, mx::random::key(2));
  EXPECT_TRUE(k::uses_cpu_kernel(x, w));
  auto y = k::linear(x, w);
  EXPECT_EQ(y.shape(), (mx::Shape{2, 3, 32}));
  EXPECT_EQ(y.dtype(), mx::float32);
  EXPECT_LT(relative_error_vs_reference(x, w), 1.2e-2);
}

TEST_F(KernelsLinear, HalfActivationsConvertThroughTheKernel) {
  auto w = quantized_weight(16, 128, 8, 32, 3);
  auto x = mx::astype(mx::random::normal({4, 128}, mx::float32, 0.0f, 1.0f, mx::random::key(4)),
                      mx::float16);
  EXPECT_TRUE(k::uses_cpu_kernel(x, w));
  auto y = k::linear(x, w);
  EXPECT_EQ(y.dtype(), mx::float16);
  EXPECT_LT(relative_error_vs_reference(x, w), 1.5e-2);
}

TEST_F(KernelsLinear, UnsupportedFormatsFallBackToMlx) {
  // 2-, 3-, 5- and 6-bit weights are MLX formats the kernel does not take.
  uint64_t seed = 10;
  for (auto [bits, group] : std::vector<std::pair<int, int>>{{2, 64}, {3, 64}, {5, 32}, {6, 128}}) {
    const auto stored = quantized_weight(8, 256, bits, group, seed++);
    auto x = mx::random::normal({3, 256}, mx::float32, 0.0f, 1.0f, mx::random::key(seed++));
    EXPECT_FALSE(k::uses_cpu_kernel(x, stored)) << bits << "-bit group " << group;
    // Scales as stored (float16) with float32 x: linear() converts them for MLX's op.
    EXPECT_LT(relative_error_vs_reference(x, stored), 1e-5) << bits << "-bit group " << group;
    auto prepared = k::with_float_dtype(stored, mx::float32);
    EXPECT_EQ(prepared.scales->dtype(), mx::float32);
    EXPECT_LT(relative_error_vs_reference(x, prepared), 1e-5) << bits << "-bit group " << group;
  }
}

TEST_F(KernelsLinear, EmbeddingRowsInEitherLayout) {
  // The tiled16 table is looked up by one Pensieve node; the rows layout by MLX's gathers and
  // mx::dequantize. Same float16 roundings: the same bits.
  for (auto [bits, group] : {std::pair{4, 64}, std::pair{8, 64}, std::pair{4, 32}}) {
    const auto stored = quantized_weight(64, 128, bits, group, 40);
    const auto prepared = k::with_float_dtype(stored, mx::float32);
    ASSERT_EQ(prepared.layout, k::WeightLayout::tiled16);
    auto ids = mx::array({5, 63, 0, 17, 17, 40}, {2, 3});
    auto expected = mx::take(dequantized(stored), ids, 0);
    auto from_stored = k::embedding_rows(ids, stored, mx::float32);
    auto from_prepared = k::embedding_rows(ids, prepared, mx::float32);
    EXPECT_STREQ(from_prepared.primitive().name(), "PensieveCpuEmbedRows");
    EXPECT_EQ(from_prepared.shape(), (mx::Shape{2, 3, 128}));
    EXPECT_TRUE(mx::array_equal(from_prepared, from_stored).item<bool>()) << bits << "-bit group " << group;
    // Against float32 scales: float16 rounding only.
    EXPECT_TRUE(mx::allclose(from_stored, expected, 1e-2, 1e-3).item<bool>());
    // Ids as a strided view (every other one) read the same rows.
    auto every_other = mx::slice(mx::array({5, 1, 63, 1, 17, 1}, {6}), {0}, {6}, {2});
    EXPECT_TRUE(mx::array_equal(k::embedding_rows(every_other, prepared, mx::float32),
                                k::embedding_rows(mx::array({5, 63, 17}, {3}), stored, mx::float32))
                    .item<bool>());
  }
}

TEST_F(KernelsLinear, EmbeddingIdsPastTheTableReadRowZero) {
  // Never a read outside the table (the CUDA decoder's embedding does the same).
  const auto prepared = k::with_float_dtype(quantized_weight(32, 128, 4, 64, 41), mx::float32);
  auto got = k::embedding_rows(mx::array({-3, 32, 1000}, {3}), prepared, mx::float32);
  auto row0 = k::embedding_rows(mx::array({0, 0, 0}, {3}), prepared, mx::float32);
  EXPECT_TRUE(mx::array_equal(got, row0).item<bool>());
}

TEST_F(KernelsLinear, TiledWeightConvertsBackForOtherDtypes) {
  const auto stored = quantized_weight(32, 128, 8, 64, 50);
  const auto prepared = k::with_float_dtype(stored, mx::float32);
  const auto as_half = k::with_float_dtype(prepared, mx::float16);
  EXPECT_EQ(as_half.layout, k::WeightLayout::rows);
  EXPECT_EQ(as_half.scales->dtype(), mx::float16);
  EXPECT_TRUE(mx::array_equal(as_half.weight, stored.weight).item<bool>());
}

TEST_F(KernelsLinear, WeightWithoutBiasesIsNotForTheKernel) {
  auto w = quantized_weight(8, 128, 4, 64, 20);
  w.biases.reset();
  EXPECT_FALSE(k::uses_cpu_kernel(mx::ones({1, 128}), w));
}

}  // namespace

// linear_swiglu against MLX's own SwiGLU (sigmoid, multiplies) followed by linear(): the fused
// kernel input must give the same product for decode rows (one row, split by columns) and
// prompt rows, including gates large enough to saturate exp.
TEST_F(KernelsLinear, SwigluInputMatchesMlxOps) {
  auto w = k::with_float_dtype(quantized_weight(48, 512, 4, 64, 7), mx::float32);
  for (int rows : {1, 5}) {
    auto gate_up = mx::multiply(mx::random::normal({1, rows, 1024}, mx::float32, 0.0f, 1.0f, mx::random::key(8)),
                                mx::array(4.0f));
    gate_up = mx::concatenate({gate_up, mx::full({1, rows, 1024}, 95.0f), mx::full({1, rows, 1024}, -95.0f)}, 1);
    auto halves = mx::split(gate_up, 2, -1);
    auto act = mx::multiply(mx::multiply(halves[0], mx::sigmoid(halves[0])), halves[1]);
    auto fused = k::linear_swiglu(gate_up, w);
    auto reference = k::linear(act, w);
    mx::eval({fused, reference});
    ASSERT_EQ(fused.shape(), reference.shape());
    const float scale = mx::max(mx::abs(reference)).item<float>();
    EXPECT_LT(mx::max(mx::abs(mx::subtract(fused, reference))).item<float>(), 1e-4f * scale) << rows;
  }
}

// The SwiGLU body itself against std::exp, element by element, over the whole float range that
// matters (and beyond, where exp over- or underflows).
TEST(KernelsSwiglu, VectorBodyMatchesScalarFormula) {
  std::vector<float> gate, up;
  for (float g = -100.0f; g <= 100.0f; g += 0.037f) {
    gate.push_back(g);
    up.push_back(0.5f + g * 0.01f);
  }
  std::vector<float> out(gate.size());
  k::swiglu_span(gate.data(), up.data(), out.data(), static_cast<int64_t>(gate.size()));
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    const double expected = g / (1.0 + std::exp(-g)) * up[i];
    EXPECT_NEAR(out[i], expected, 2e-6 * std::max(1.0, std::abs(expected))) << "gate " << g;
  }
}
