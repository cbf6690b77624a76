// The CPU attention kernel against MLX's own scaled_dot_product_attention (float32 or float16
// keys and values) and against MLX's dequantize (quantized ones), through the KV cache that feeds
// it; groups MLX does not take (96) against the MLX-ops dequantizer, itself checked against
// mx::dequantize.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include <mlx/mlx.h>

#include "common/error.h"
#include "kernels/attention.h"
#include "kernels/attention_cpu.h"
#include "kernels/attention_quantize.h"
#include "model/kv_cache.h"
#include "mlx_test_support.h"

namespace {

using pensieve::test::max_abs;
using pensieve::test::randn;
using pensieve::test::relative_difference;

namespace mx = mlx::core;
using pensieve::kernels::StoredKV;
using pensieve::model::KVCache;

struct Shape {
  int heads, kv_heads, head_dim;
};

// One sequence's keys and values (length `prefix` + L) fed through a one-layer cache in two
// updates, so the buffers have spare capacity past the valid length as in real use.
struct Sequence {
  KVCache cache;
  mx::array keys, values;  // float32, [1, kv_heads, length, head_dim], before storage
  StoredKV stored;
};

// float_dtype: bits 0 storage (unset: float32, the keys' own dtype).
Sequence make_sequence(const Shape& s, int prefix, int L, int bits, uint64_t seed,
                       int group = KVCache::kDefaultGroupSize, std::optional<mx::Dtype> float_dtype = std::nullopt) {
  const int T = prefix + L;
  auto k = randn({1, s.kv_heads, T, s.head_dim}, seed);
  auto v = randn({1, s.kv_heads, T, s.head_dim}, seed + 1);
  KVCache cache(1, bits, group, float_dtype);
  auto part = [&](const mx::array& a, int start, int end) {
    return mx::slice(a, {0, 0, start, 0}, {1, s.kv_heads, end, s.head_dim});
  };
  if (prefix > 0) cache.update(0, part(k, 0, prefix), part(v, 0, prefix));
  auto stored = cache.update(0, part(k, prefix, T), part(v, prefix, T));
  mx::eval(cache.state());
  return {std::move(cache), k, v, stored};
}

// MLX's SDPA over float keys and values of each sequence; causal aligned to the last key.
mx::array reference(const mx::array& q, const std::vector<mx::array>& keys, const std::vector<mx::array>& values,
                    float scale) {
  const int B = q.shape(0), H = q.shape(1), L = q.shape(2), hd = q.shape(3);
  std::vector<mx::array> outs;
  for (int b = 0; b < B; ++b) {
    auto qb = mx::slice(q, {b, 0, 0, 0}, {b + 1, H, L, hd});
    outs.push_back(mx::fast::scaled_dot_product_attention(qb, keys[b], values[b], scale, L > 1 ? "causal" : ""));
  }
  return mx::reshape(mx::transpose(mx::concatenate(outs, 0), {0, 2, 1, 3}), {B, L, H * hd});
}

// Keys or values as the quantized cache holds them, dequantized by MLX (its ops for groups
// mx::dequantize does not take).
mx::array dequantized(const mx::array& packed, const mx::array& scales, const mx::array& biases, int length,
                      int bits, int group) {
  auto head = [&](const mx::array& a) {
    return mx::astype(mx::slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), length, a.shape(3)}),
                      a.dtype() == mx::uint32 ? mx::uint32 : mx::float32);
  };
  if (!pensieve::kernels::mlx_quantize_supports_group(group))
    return pensieve::kernels::affine_dequantize_with_ops(head(packed), head(scales), head(biases), group, bits,
                                                         mx::float32);
  return mx::dequantize(head(packed), head(scales), head(biases), group, bits);
}

struct Case {
  Shape shape;
  std::vector<int> prefixes;  // one sequence each
  int L;
};

// The valid part of a float cache buffer as float32: what the kernel must have read.
mx::array stored_as_float32(const mx::array& a, int length) {
  return mx::astype(mx::slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), length, a.shape(3)}), mx::float32);
}

void check(const Case& c, int bits, float tolerance, int group = KVCache::kDefaultGroupSize,
           std::optional<mx::Dtype> float_dtype = std::nullopt) {
  SCOPED_TRACE(::testing::Message() << "heads " << c.shape.heads << "/" << c.shape.kv_heads << " L " << c.L
                                    << " bits " << bits << " group " << group << " first prefix " << c.prefixes[0]
                                    << (float_dtype == mx::float16 ? " float16 storage" : ""));
  const int B = static_cast<int>(c.prefixes.size());
  std::vector<Sequence> seqs;
  std::vector<StoredKV> stored;
  std::vector<mx::array> keys, values;
  for (int b = 0; b < B; ++b) {
    seqs.push_back(make_sequence(c.shape, c.prefixes[b], c.L, bits, 100 + 7 * b, group, float_dtype));
    const auto& s = seqs.back();
    stored.push_back(s.stored);
    if (bits == 0) {
      EXPECT_EQ(s.stored.keys.dtype(), float_dtype.value_or(mx::float32));
      keys.push_back(stored_as_float32(s.stored.keys, s.stored.length));
      values.push_back(stored_as_float32(s.stored.values, s.stored.length));
    } else {
      keys.push_back(
          dequantized(s.stored.keys, *s.stored.key_scales, *s.stored.key_biases, s.stored.length, bits, group));
      values.push_back(dequantized(s.stored.values, *s.stored.value_scales, *s.stored.value_biases,
                                   s.stored.length, bits, group));
    }
  }
  auto q = randn({B, c.shape.heads, c.L, c.shape.head_dim}, 7);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.shape.head_dim));
  ASSERT_TRUE(pensieve::kernels::attention_uses_cpu_kernel(q, stored));
  auto got = pensieve::kernels::attention(q, stored, scale);
  auto want = reference(q, keys, values, scale);
  EXPECT_LT(relative_difference(got, want), tolerance);
  // MLX's own formulation through the same stored form (mlx-lm's for quantized caches).
  auto mlx_ops = pensieve::kernels::attention_with_mlx_ops(q, stored, scale);
  EXPECT_LT(relative_difference(got, mlx_ops), tolerance);
}

const std::vector<Case> kCases = {
    {{4, 4, 32}, {0}, 1},                 // a single key
    {{4, 4, 32}, {63}, 1},                // exactly one key block
    {{4, 4, 32}, {64}, 1},                // one past a block edge
    {{32, 32, 96}, {299}, 1},             // Phi-3-mini heads, decode at 300
    {{8, 2, 64}, {200}, 1},               // GQA decode
    {{8, 2, 64}, {0}, 37},                // GQA prompt, causal
    {{8, 2, 64}, {100}, 37},              // GQA chunk at an offset
    {{32, 32, 96}, {130}, 70},            // chunk crossing several blocks
    {{6, 6, 32}, {0, 5, 64, 300}, 1},     // batched decode, different lengths
    {{8, 4, 32}, {10, 200}, 3},           // batched chunks, GQA
    {{4, 2, 32}, {4999}, 1},              // long context
    {{4, 2, 32}, {4930}, 70},
};

TEST(Attention, FloatMatchesMlxSdpa) {
  for (const auto& c : kCases) check(c, 0, 2e-5f);
}

// Float16 storage (the CPU's default under float32 activations), read by the kernel as it is and
// converted whole by the MLX-ops path: the same values, so float32 precision between the two.
TEST(Attention, Float16CacheMatchesMlxSdpa) {
  for (const auto& c : kCases) check(c, 0, 2e-5f, KVCache::kDefaultGroupSize, mx::float16);
}

TEST(Attention, EightBitCacheMatchesMlxDequantize) {
  for (const auto& c : kCases) check(c, 8, 2e-5f);
}

TEST(Attention, FourBitCacheMatchesMlxDequantize) {
  for (const auto& c : kCases) check(c, 4, 2e-5f);
}

// Head rows as whole groups (96 = Phi-3's head_dim: 4.33 bits a value at 4 bits), through the
// CPU kernel and through the MLX-ops fallback (dequantize, then MLX's SDPA).
const std::vector<Case> kWholeRowCases = {
    {{32, 32, 96}, {299}, 1},           // Phi-3-mini heads, decode at 300
    {{32, 32, 96}, {130}, 70},          // chunk crossing several blocks
    {{6, 6, 96}, {0, 5, 64, 300}, 1},   // batched decode, different lengths
    {{8, 2, 96}, {100}, 37},            // GQA chunk at an offset
    {{4, 4, 96}, {4999}, 1},            // long context
};

TEST(Attention, WholeRowGroupsMatchMlxOpsDequantize) {
  // Float32 rounding over 5000 keys, whose average output is ~70x smaller than a value: up to
  // ~6e-5 of the largest output where AVX-512's decode path sums p·scale·(1 + code/2^bits) and
  // p·(bias − scale) apart (still far below the float16 scales' own rounding, ~5e-4).
  for (const auto& c : kWholeRowCases) {
    check(c, 8, 1e-4f, 96);
    check(c, 4, 1e-4f, 96);
  }
  check({{4, 4, 64}, {200}, 1}, 4, 2e-5f, 64);
}

TEST(Attention, ReadsViewsOfQueriesKeysAndValues) {
  // q as the model makes it (a projection split into heads and transposed) and keys/values that
  // are transposed views too (float32 and float16): the node reads them through their strides.
  const int H = 4, KV = 2, hd = 64;
  for (mx::Dtype dtype : {mx::float32, mx::float16})
    for (int L : {1, 3})
      for (int T : {9, 70}) {
        SCOPED_TRACE(::testing::Message() << (dtype == mx::float16 ? "float16" : "float32") << " L " << L << " T " << T);
        auto q = mx::transpose(randn({1, L, H, hd}, 31), {0, 2, 1, 3});
        auto keys = mx::transpose(mx::astype(randn({1, T, KV, hd}, 32), dtype), {0, 2, 1, 3});
        auto values = mx::transpose(mx::astype(randn({1, T, KV, hd}, 33), dtype), {0, 2, 1, 3});
        mx::eval({q, keys, values});
        EXPECT_EQ(q.flags().row_contiguous, L == 1);  // one row: the transpose moves nothing
        ASSERT_FALSE(keys.flags().row_contiguous);
        StoredKV stored{keys, values, {}, {}, {}, {}, T, 0, 0};
        ASSERT_TRUE(pensieve::kernels::attention_uses_cpu_kernel(q, {stored}));
        const float scale = 0.125f;
        auto got = pensieve::kernels::attention(q, {stored}, scale);
        auto want = reference(q, {mx::astype(keys, mx::float32)}, {mx::astype(values, mx::float32)}, scale);
        EXPECT_LT(relative_difference(got, want), 1e-5f);
        EXPECT_LT(relative_difference(got, pensieve::kernels::attention_with_mlx_ops(q, {stored}, scale)), 1e-5f);
      }
}

TEST(Attention, OtherFloatStorageTakesTheMlxOpsPath) {
  // bfloat16 keys and values, or keys and values of different dtypes, are not the kernel's: MLX's
  // ops read them as float32 (q's dtype).
  auto q = randn({1, 4, 1, 32}, 41);
  auto k = randn({1, 4, 20, 32}, 42), v = randn({1, 4, 20, 32}, 43);
  const std::vector<std::pair<mx::Dtype, mx::Dtype>> pairs = {{mx::bfloat16, mx::bfloat16}, {mx::float16, mx::float32}};
  for (const auto& [kd, vd] : pairs) {
    StoredKV stored{mx::astype(k, kd), mx::astype(v, vd), {}, {}, {}, {}, 20, 0, 0};
    EXPECT_FALSE(pensieve::kernels::attention_uses_cpu_kernel(q, {stored}));
    auto got = pensieve::kernels::attention(q, {stored}, 0.2f);
    EXPECT_EQ(got.dtype(), mx::float32);
    auto want = reference(q, {mx::astype(stored.keys, mx::float32)}, {mx::astype(stored.values, mx::float32)}, 0.2f);
    EXPECT_LT(relative_difference(got, want), 1e-5f);
  }
}

TEST(Attention, FallbackIsUsedOffTheCpuKernel) {
  // Off the kernel (float16 queries), the whole-row form still runs, through MLX's ops.
  auto seq = make_sequence({4, 4, 96}, 40, 1, 4, 9, 96);
  auto q = randn({1, 4, 1, 96}, 10);
  EXPECT_FALSE(pensieve::kernels::attention_uses_cpu_kernel(mx::astype(q, mx::float16), {seq.stored}));
  auto got = pensieve::kernels::attention(mx::astype(q, mx::float16), {seq.stored}, 0.1f);
  auto want = pensieve::kernels::attention(q, {seq.stored}, 0.1f);
  EXPECT_LT(relative_difference(mx::astype(got, mx::float32), want), 5e-3f);
}

TEST(QuantizeWithOps, DequantizeMatchesMlxDequantize) {
  using namespace pensieve::kernels;
  auto x = randn({2, 3, 17, 128}, 21);
  for (int bits : {8, 4})
    for (int group : {32, 64, 128}) {
      auto q = mx::quantize(x, group, bits);
      auto want = mx::dequantize(q[0], q[1], q[2], group, bits);
      auto got = affine_dequantize_with_ops(q[0], q[1], q[2], group, bits, mx::float32);
      EXPECT_LT(max_abs(mx::subtract(got, want)), 1e-6f) << bits << " bits, group " << group;
    }
}

TEST(QuantizeWithOps, PackingIsMlxsAndRoundTripIsWithinHalfAStep) {
  using namespace pensieve::kernels;
  auto x = mx::multiply(randn({1, 4, 33, 96}, 22), mx::array(3.0f));
  for (int bits : {8, 4})
    for (int group : {32, 96}) {
      auto q = affine_quantize_with_ops(x, group, bits, mx::float16);
      ASSERT_EQ(q[0].shape(-1), 96 * bits / 32);
      ASSERT_EQ(q[1].shape(-1), 96 / group);
      auto back = affine_dequantize_with_ops(q[0], q[1], q[2], group, bits, mx::float32);
      if (group == 32) {  // MLX reads the same words
        auto mlx = mx::dequantize(q[0], mx::astype(q[1], mx::float32), mx::astype(q[2], mx::float32), group, bits);
        EXPECT_LT(max_abs(mx::subtract(back, mlx)), 1e-5f);
      }
      // Every value within half a step (scale/2) of the original, plus float16 rounding of the bias.
      auto step = mx::repeat(mx::astype(q[1], mx::float32), group, -1);
      auto bias = mx::repeat(mx::abs(mx::astype(q[2], mx::float32)), group, -1);
      auto excess = mx::subtract(mx::abs(mx::subtract(back, x)),
                                 mx::add(mx::multiply(step, mx::array(0.5f)), mx::multiply(bias, mx::array(1e-3f))));
      EXPECT_LE(mx::max(excess).item<float>(), 1e-5f) << bits << " bits, group " << group;
    }
}

TEST(Attention, AllIsasAgree) {
  using namespace pensieve::kernels;
  struct IsaCase {
    Shape s;
    int prefix, L, bits, group;
    bool f16 = false;  // bits 0: float16 storage
  };
  // Prompt chunks (the block kernel) and one-row decode (AVX-512's own path), every format.
  std::vector<IsaCase> cases;
  for (int bits : {0, 8, 4})
    for (int group : {32, 96}) {
      // bits 0: float32 storage (group 32), float16 (group 96, which bits 0 ignores)
      const bool f16 = bits == 0 && group == 96;
      const int g = bits == 0 ? 32 : group;
      cases.push_back({{8, 2, 96}, 150, 20, bits, g, f16});
      cases.push_back({{6, 6, 96}, 333, 1, bits, g, f16});
      cases.push_back({{4, 4, 64}, 70, 1, bits, 32, f16});
      cases.push_back({{4, 4, 32}, 5, 1, bits, 32, f16});
      cases.push_back({{2, 2, 128}, 129, 1, bits, 32, f16});
      if (f16) {
        cases.push_back({{32, 32, 96}, 130, 70, 0, 32, true});  // a Phi-3-mini prompt chunk
        cases.push_back({{4, 4, 96}, 0, 1, 0, 32, true});       // a single key
      }
    }
  for (const auto& c : cases) {
    const Shape& s = c.s;
    auto seq = make_sequence(s, c.prefix, c.L, c.bits, 3, c.group, c.f16 ? std::optional(mx::float16) : std::nullopt);
    auto q = randn({1, s.heads, c.L, s.head_dim}, 5);
    mx::eval(q);
    AttentionProblem p;
    p.q = q.data<float>();
    p.batch = 1;
    p.heads = s.heads;
    p.kv_heads = s.kv_heads;
    p.queries = c.L;
    p.head_dim = s.head_dim;
    p.scale = 0.1f;
    p.bits = c.bits;
    p.group_size = c.group;
    p.kv_f16 = c.f16;
    AttentionSequence a;
    a.length = c.prefix + c.L;
    a.offset = c.prefix;
    auto rows = [&](const mx::array& d, const std::optional<mx::array>& sc, const std::optional<mx::array>& bi) {
      KvRows r;
      r.data = d.data<void>();
      r.scales = sc ? sc->data<void>() : nullptr;
      r.biases = bi ? bi->data<void>() : nullptr;
      r.head_stride = d.shape(2);
      return r;
    };
    a.keys = rows(seq.stored.keys, seq.stored.key_scales, seq.stored.key_biases);
    a.values = rows(seq.stored.values, seq.stored.value_scales, seq.stored.value_biases);
    p.sequences = {a};
    const std::size_t n = static_cast<std::size_t>(c.L) * s.heads * s.head_dim;
    std::vector<float> portable(n);
    p.out = portable.data();
    attention_cpu(p, AttentionIsa::portable);
    // Each variant against MLX's ops on the same stored form too ([1, L, heads·head_dim] as here).
    auto mlx_ops = attention_with_mlx_ops(q, {seq.stored}, p.scale);
    for (AttentionIsa isa : available_attention_isas()) {
      std::vector<float> got(n);
      p.out = got.data();
      attention_cpu(p, isa);
      const auto where = ::testing::Message() << "isa " << static_cast<int>(isa) << " bits " << c.bits << " group "
                                              << c.group << (c.f16 ? " float16" : "") << " head_dim " << s.head_dim
                                              << " L " << c.L;
      for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], portable[i], 1e-5f) << where;
      EXPECT_LT(relative_difference(mx::array(got.data(), mlx_ops.shape(), mx::float32), mlx_ops), 2e-5f) << where;
    }
  }
}

TEST(KVCacheQuantized, TrimThenRewriteMatchesFreshCache) {
  auto k = randn({1, 4, 40, 64}, 11), v = randn({1, 4, 40, 64}, 12);
  auto other_k = randn({1, 4, 10, 64}, 13), other_v = randn({1, 4, 10, 64}, 14);
  auto part = [](const mx::array& a, int start, int end) {
    return mx::slice(a, {0, 0, start, 0}, {1, 4, end, 64});
  };
  for (int bits : {8, 4}) {
    KVCache reused(1, bits), fresh(1, bits);
    reused.update(0, part(k, 0, 30), part(v, 0, 30));
    reused.update(0, other_k, other_v);  // positions 30..39, then dropped
    reused.trim(10);
    auto a = reused.update(0, part(k, 30, 40), part(v, 30, 40));
    auto b = fresh.update(0, k, v);
    ASSERT_EQ(reused.offset(), 40);
    auto q = randn({1, 4, 1, 64}, 15);
    auto got = pensieve::kernels::attention(q, {a}, 0.125f);
    auto want = pensieve::kernels::attention(q, {b}, 0.125f);
    EXPECT_LT(relative_difference(got, want), 1e-6f);
  }
}

TEST(KVCacheQuantized, NbytesIsTheStorage) {
  const int layers = 3, kv_heads = 4, head_dim = 96;
  for (int bits : {0, 8, 4})
    for (int group : {32, 96}) {
      KVCache cache(layers, bits, group);
      auto k = randn({1, kv_heads, 5, head_dim}, 1);
      for (int l = 0; l < layers; ++l) cache.update(l, k, k);
      mx::eval(cache.state());
      ASSERT_EQ(cache.capacity(), 256);
      // Packed values: head_dim*bits/8 bytes a row; scales and biases: float16 per group.
      const std::size_t row = bits == 0 ? head_dim * 4 : head_dim * bits / 8 + head_dim / group * 2 * 2;
      const std::size_t expected = static_cast<std::size_t>(layers) * 2 * kv_heads * 256 * row;
      EXPECT_EQ(cache.nbytes(), expected) << "bits " << bits;
      EXPECT_EQ(KVCache::bytes_per_position(kv_heads, head_dim, mx::float32, bits, group) * layers * 256, expected);
    }
  // 4 bits with one group a Phi-3 head row: 4 + 32/96 bits a value.
  EXPECT_EQ(KVCache::bytes_per_position(32, 96, mx::float32, 4, 96) * 32, 106496u);
}

TEST(KVCacheFloat16, HalfTheBytesOfFloat32AndTheValuesRounded) {
  // The default for float32 activations on the CPU; a GPU keeps its activations' dtype.
  EXPECT_EQ(KVCache::default_float_dtype(mx::float32, mx::Device::cpu), mx::float16);
  EXPECT_EQ(KVCache::default_float_dtype(mx::bfloat16, mx::Device::cpu), mx::bfloat16);
  EXPECT_EQ(KVCache::default_float_dtype(mx::float16, mx::Device::gpu), mx::float16);
  EXPECT_EQ(KVCache::default_float_dtype(mx::bfloat16, mx::Device::gpu), mx::bfloat16);
  EXPECT_EQ(KVCache::default_float_dtype(mx::float32, mx::Device::gpu), mx::float32);

  const int layers = 3, kv_heads = 4, head_dim = 96;
  auto k = randn({1, kv_heads, 300, head_dim}, 1), v = randn({1, kv_heads, 300, head_dim}, 2);
  KVCache half(layers, 0, KVCache::kDefaultGroupSize, mx::float16), full(layers, 0);
  std::optional<StoredKV> stored;
  for (int l = 0; l < layers; ++l) {
    stored = half.update(l, k, v);
    full.update(l, k, v);
  }
  mx::eval(half.state());
  mx::eval(full.state());
  ASSERT_EQ(half.capacity(), 512);
  for (const auto& a : half.state()) EXPECT_EQ(a.dtype(), mx::float16);
  for (const auto& a : full.state()) EXPECT_EQ(a.dtype(), mx::float32);
  EXPECT_EQ(half.nbytes(), static_cast<std::size_t>(layers) * 2 * kv_heads * 512 * head_dim * 2);
  EXPECT_EQ(2 * half.nbytes(), full.nbytes());
  EXPECT_EQ(KVCache::bytes_per_position(kv_heads, head_dim, mx::float16, 0) * layers * 512, half.nbytes());
  EXPECT_EQ(2 * KVCache::bytes_per_position(kv_heads, head_dim, mx::float16, 0),
            KVCache::bytes_per_position(kv_heads, head_dim, mx::float32, 0));
  // Phi-3-mini: 32 layers × 2 × 3072 values × 2 bytes a position.
  EXPECT_EQ(KVCache::bytes_per_position(32, 96, mx::float16, 0) * 32, 393216u);
  // Each stored value is the float16 nearest to the key (a relative rounding of at most 2^-11).
  auto keys = stored_as_float32(stored->keys, 300);
  EXPECT_EQ(max_abs(mx::subtract(keys, mx::astype(mx::astype(k, mx::float16), mx::float32))), 0.0f);
  EXPECT_GT(max_abs(mx::subtract(keys, k)), 0.0f);
  // |error| ≤ 2^-11 |k| (10 stored mantissa bits), 2^-25 for values float16 holds as subnormals.
  auto bound = mx::multiply(mx::maximum(mx::abs(k), mx::array(1.0f / 16384)), mx::array(1.0f / 2048));
  EXPECT_LE(mx::max(mx::subtract(mx::abs(mx::subtract(keys, k)), bound)).item<float>(), 0.0f);
  // Growth and shrinking keep the storage dtype.
  for (int l = 0; l < layers; ++l) half.update(l, k, v);  // 600 positions: grown to 768
  ASSERT_EQ(half.capacity(), 768);
  half.trim(300);
  half.shrink_to_fit();
  ASSERT_EQ(half.capacity(), 512);
  for (const auto& a : half.state()) EXPECT_EQ(a.dtype(), mx::float16);
}

TEST(KVCacheGrowth, HintAllocatesOnceAndGrowthIsGeometric) {
  auto chunk = randn({1, 2, 64, 32}, 31);
  KVCache hinted(1, 4, 32);
  hinted.reserve_hint(1000);
  std::vector<int> capacities;
  for (int i = 0; i < 15; ++i) {
    hinted.update(0, chunk, chunk);
    capacities.push_back(hinted.capacity());
  }
  EXPECT_EQ(capacities.front(), 1024);  // the hint, in steps of 256
  EXPECT_EQ(capacities.back(), 1024);   // 960 positions: never grew
  KVCache plain(1, 0);
  std::vector<int> grown;
  for (int i = 0; i < 40; ++i) {
    plain.update(0, chunk, chunk);
    if (grown.empty() || plain.capacity() != grown.back()) grown.push_back(plain.capacity());
  }
  // 2560 positions: × 1.5 each time, in steps of 256.
  EXPECT_EQ(grown, (std::vector<int>{256, 512, 768, 1280, 2048, 3072}));
  const int last = grown.back();
  // The stored keys survive every growth.
  auto keys = mx::slice(plain.state()[0], {0, 0, 2496, 0}, {1, 2, 2560, 32});
  EXPECT_EQ(max_abs(mx::subtract(keys, chunk)), 0.0f);
  EXPECT_GT(last, 2560);
  plain.shrink_to_fit();
  EXPECT_EQ(plain.capacity(), 2560);
  keys = mx::slice(plain.state()[0], {0, 0, 2496, 0}, {1, 2, 2560, 32});
  EXPECT_EQ(max_abs(mx::subtract(keys, chunk)), 0.0f);
  // Growth stops at the limit (then only what is needed).
  KVCache limited(1, 0);
  limited.reserve_hint(300);
  limited.limit_capacity(700);
  for (int i = 0; i < 11; ++i) limited.update(0, chunk, chunk);  // 704 positions
  EXPECT_EQ(limited.capacity(), 768);  // 512 → 768 (the limit, 700, in steps of 256)
}

TEST(KVCacheGrowth, GroupMustDivideHeadDim) {
  EXPECT_THROW(KVCache::validate(4, 64, 96), pensieve::Error);
  EXPECT_THROW(KVCache::validate(4, 4, 96), pensieve::Error);  // not whole 32-bit words
  EXPECT_NO_THROW(KVCache::validate(4, 96, 96));
  EXPECT_NO_THROW(KVCache::validate(8, 32, 96));
  KVCache cache(1, 4, 64);
  auto k = randn({1, 2, 3, 96}, 1);
  EXPECT_THROW(cache.update(0, k, k), pensieve::Error);
}

}  // namespace
