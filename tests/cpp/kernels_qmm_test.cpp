// The CPU quantized-matmul kernels against a float64 reference built from MLX's own dequantize,
// for every instruction-set variant this CPU has, bits 4 and 8, group sizes 32/64/128 and
// float32/float16/bfloat16 scales.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <mlx/mlx.h>

#include "kernels/cpu_layout.h"
#include "kernels/qmm_cpu.h"
#include "kernels/quantized_matmul_primitive.h"

namespace mx = mlx::core;
namespace k = pensieve::kernels;

namespace {

struct Quantized {
  mx::array w, scales, biases;
};

Quantized quantize_random(int N, int K, int bits, int group, mx::Dtype scale_dtype, uint64_t seed) {
  auto wf = mx::multiply(mx::random::normal({N, K}, mx::float32, 0.0f, 1.0f, mx::random::key(seed)),
                         mx::array(0.05f));
  auto q = mx::quantize(wf, group, bits, "affine");
  Quantized r{q[0], mx::astype(q[1], scale_dtype), mx::astype(q[2], scale_dtype)};
  mx::eval({r.w, r.scales, r.biases});
  return r;
}

// y = x · dequantize(w)ᵀ in float64, from the very scales the kernel reads.
std::vector<double> reference(const mx::array& x, const Quantized& q, int bits, int group) {
  auto wd = mx::dequantize(q.w, mx::astype(q.scales, mx::float32), mx::astype(q.biases, mx::float32),
                           group, bits, "affine");
  auto xc = mx::contiguous(x);
  mx::eval({wd, xc});
  const int M = x.shape(0), K = x.shape(1), N = wd.shape(0);
  const float* xp = xc.data<float>();
  const float* wp = wd.data<float>();
  std::vector<double> y(static_cast<size_t>(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double acc = 0;
      for (int kk = 0; kk < K; ++kk) acc += double(xp[m * K + kk]) * double(wp[n * K + kk]);
      y[size_t(m) * N + n] = acc;
    }
  return y;
}

// ‖y − ref‖ / ‖ref‖ over the whole output.
double relative_error(const mx::array& y, const std::vector<double>& ref) {
  auto yc = mx::astype(mx::contiguous(y), mx::float32);
  mx::eval(yc);
  const float* yp = yc.data<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (yp[i] - ref[i]) * (yp[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

// Integer activations (int8 per group, max-abs scaling) cost 0.4–0.8% relative error on
// random data; float activations only float32 rounding.
double tolerance(k::QmmIsa isa) { return isa == k::QmmIsa::scalar ? 2e-6 : 1.2e-2; }

std::vector<k::QmmIsa> isas_here() {
  std::vector<k::QmmIsa> isas{k::QmmIsa::scalar};
  if (k::best_qmm_isa() != k::QmmIsa::scalar) isas.push_back(k::QmmIsa::avx2);
  if (k::best_qmm_isa() == k::QmmIsa::avx512vnni) isas.push_back(k::QmmIsa::avx512vnni);
  return isas;
}

struct Case {
  int M, N, K, bits, group;
};

// Leaves a freed buffer of y's size full of NaN in MLX's allocator cache, so that the next
// output reuses it: rows a kernel leaves unwritten then show as NaN, not as an earlier result.
void poison_next_output(const Case& c) {
  auto poison = mx::full({c.M, c.N}, std::numeric_limits<float>::quiet_NaN(), mx::float32);
  mx::eval(poison);
}

void check(const Case& c, mx::Dtype scale_dtype, uint64_t seed) {
  const auto q = quantize_random(c.N, c.K, c.bits, c.group, scale_dtype, seed);
  auto x = mx::random::normal({c.M, c.K}, mx::float32, 0.0f, 1.0f, mx::random::key(seed + 1));
  const auto ref = reference(x, q, c.bits, c.group);
  for (auto isa : isas_here()) {
    poison_next_output(c);
    auto y = k::cpu_quantized_matmul(x, q.w, q.scales, q.biases, c.group, c.bits,
                                     k::WeightLayout::rows, isa);
    ASSERT_EQ(y.shape(), (mx::Shape{c.M, c.N}));
    EXPECT_LT(relative_error(y, ref), tolerance(isa))
        << k::qmm_isa_name(isa) << " M=" << c.M << " N=" << c.N << " K=" << c.K
        << " bits=" << c.bits << " group=" << c.group;
  }
  if (k::tiled_layout_supported() && c.N % k::kTileRows == 0) {
    const auto w = k::to_tiled16(q.w), s = k::to_tiled16(q.scales), b = k::to_tiled16(q.biases);
    for (auto isa : isas_here()) {
      if (isa == k::QmmIsa::scalar) continue;  // tiled16 is read by the SIMD kernels only
      poison_next_output(c);
      auto y = k::cpu_quantized_matmul(x, w, s, b, c.group, c.bits, k::WeightLayout::tiled16, isa);
      EXPECT_LT(relative_error(y, ref), tolerance(isa))
          << "tiled16 " << k::qmm_isa_name(isa) << " M=" << c.M << " N=" << c.N << " K=" << c.K
          << " bits=" << c.bits << " group=" << c.group;
    }
  }
}

class KernelsQmm : public ::testing::Test {
 protected:
  void SetUp() override { mx::set_default_device(mx::Device::cpu); }
};

TEST_F(KernelsQmm, SmallShapesEveryFormat) {
  uint64_t seed = 1;
  for (int bits : {4, 8})
    for (int group : {32, 64, 128})
      for (const Case& c : {Case{1, 32, 384, bits, group}, Case{2, 17, 256, bits, group},
                            Case{7, 16, 128, bits, group}, Case{3, 48, 256, bits, group}})
        check(c, mx::float32, seed++);
}

TEST_F(KernelsQmm, HalfPrecisionScales) {
  uint64_t seed = 100;
  for (auto dtype : {mx::float16, mx::bfloat16})
    for (int bits : {4, 8}) check(Case{3, 32, 256, bits, 64}, dtype, seed++);
}

TEST_F(KernelsQmm, ModelWidths) {
  // Phi-3-mini's K (3072, 8192) with a slice of its N, and prefill-like M.
  check(Case{1, 16, 3072, 4, 64}, mx::float16, 200);
  check(Case{2, 16, 8192, 4, 64}, mx::float16, 201);
  check(Case{64, 32, 3072, 4, 64}, mx::float16, 202);
  check(Case{1, 9216, 64, 4, 64}, mx::float16, 203);
  check(Case{1, 16, 8192, 8, 128}, mx::float16, 204);
  check(Case{9, 32064 / 16, 64, 4, 32}, mx::float16, 205);
}

TEST_F(KernelsQmm, ManyOutputsSpreadOverThreads) {
  // N not a multiple of the per-task row count, more tasks than threads.
  check(Case{1, 1003, 128, 4, 64}, mx::float32, 300);
  check(Case{5, 333, 128, 8, 32}, mx::float32, 301);
  check(Case{3, 1008, 128, 4, 64}, mx::float32, 302);
}

TEST_F(KernelsQmm, ComposesWithOtherOps) {
  const auto q = quantize_random(12, 256, 4, 64, mx::float32, 400);
  // A transposed (non-contiguous) activation produced lazily by earlier ops.
  auto xt = mx::transpose(mx::random::normal({256, 3}, mx::float32, 0.0f, 1.0f, mx::random::key(401)));
  auto x = mx::multiply(xt, mx::array(2.0f));
  auto y = mx::add(k::cpu_quantized_matmul(x, q.w, q.scales, q.biases, 64, 4), mx::array(1.0f));
  auto ref = reference(x, q, 4, 64);
  for (auto& v : ref) v += 1.0;
  EXPECT_LT(relative_error(y, ref), tolerance(k::best_qmm_isa()));
}

TEST_F(KernelsQmm, ReadsViewsAndKeepsLeadingDimensions) {
  // x straight from a transpose (a strided view, no contiguous node) and with two leading axes:
  // the node reads the view itself and keeps x's shape but the last axis.
  const auto q = quantize_random(16, 256, 4, 64, mx::float32, 450);
  auto base = mx::random::normal({256, 6}, mx::float32, 0.0f, 1.0f, mx::random::key(451));
  auto view = mx::transpose(base);  // [6, 256], column-major in memory
  auto y = k::cpu_quantized_matmul(view, q.w, q.scales, q.biases, 64, 4);
  EXPECT_EQ(y.shape(), (mx::Shape{6, 16}));
  EXPECT_LT(relative_error(y, reference(view, q, 4, 64)), tolerance(k::best_qmm_isa()));
  auto y3 = k::cpu_quantized_matmul(mx::reshape(mx::contiguous(view), {2, 3, 256}), q.w, q.scales, q.biases, 64, 4);
  EXPECT_EQ(y3.shape(), (mx::Shape{2, 3, 16}));
  EXPECT_LT(relative_error(mx::reshape(y3, {6, 16}), reference(view, q, 4, 64)), tolerance(k::best_qmm_isa()));
}

TEST_F(KernelsQmm, RejectsUnsupportedFormats) {
  const auto q = quantize_random(4, 128, 4, 64, mx::float32, 500);
  auto x = mx::ones({1, 128});
  EXPECT_THROW(k::cpu_quantized_matmul(x, q.w, q.scales, q.biases, 64, 3), std::exception);
  EXPECT_THROW(k::cpu_quantized_matmul(mx::ones({1, 64}), q.w, q.scales, q.biases, 64, 4),
               std::exception);
  EXPECT_FALSE(k::qmm_supported(2, 64, 128));
  EXPECT_FALSE(k::qmm_supported(4, 16, 128));
  EXPECT_FALSE(k::qmm_supported(4, 64, 96));
}

TEST_F(KernelsQmm, TiledLayoutRoundTrips) {
  auto a = mx::random::randint(0, 1 << 30, {48, 5}, mx::int32, mx::random::key(600));
  auto t = k::to_tiled16(a);
  EXPECT_TRUE(mx::array_equal(k::from_tiled16(t), a).item<bool>());
  auto ids = mx::array({17, 0, 47, 31}, {2, 2});
  auto rows = k::take_tiled16_rows(t, ids);
  EXPECT_EQ(rows.shape(), (mx::Shape{2, 2, 5}));
  EXPECT_TRUE(mx::array_equal(rows, mx::take(a, ids, 0)).item<bool>());
}

}  // namespace

// A row decoded alone and the same row inside a batch (the server's batched decode against one
// sequence's) must be the same bits: the one-row and the several-row kernels do the same float
// operations in the same order, and greedy decoding stays reproducible either way.
TEST_F(KernelsQmm, RowAloneEqualsRowInBatch) {
  if (!k::tiled_layout_supported()) GTEST_SKIP() << "no SIMD kernels on this CPU";
  const int N = 64, K = 3072;
  const auto q = quantize_random(N, K, 4, 64, mx::float16, 500);
  const auto w = k::to_tiled16(q.w), s = k::to_tiled16(q.scales), b = k::to_tiled16(q.biases);
  for (auto isa : isas_here()) {
    if (isa == k::QmmIsa::scalar) continue;
    for (int M : {2, 3, 8, 9}) {
      auto x = mx::random::normal({M, K}, mx::float32, 0.0f, 1.0f, mx::random::key(501 + M));
      auto batch = k::cpu_quantized_matmul(x, w, s, b, 64, 4, k::WeightLayout::tiled16, isa);
      mx::eval(batch);
      for (int r = 0; r < M; ++r) {
        auto alone = k::cpu_quantized_matmul(mx::slice(x, {r, 0}, {r + 1, K}), w, s, b, 64, 4,
                                             k::WeightLayout::tiled16, isa);
        auto row = mx::slice(batch, {r, 0}, {r + 1, N});
        EXPECT_TRUE(mx::array_equal(alone, row).item<bool>())
            << k::qmm_isa_name(isa) << " M=" << M << " row " << r;
      }
    }
  }
}
