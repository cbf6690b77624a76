#include "kernels/attention.h"

#include <limits>

#include "common/error.h"
#include "kernels/attention_cpu.h"
#include "kernels/cpu_dispatch.h"
#include "kernels/attention_primitive.h"
#include "kernels/attention_quantize.h"

namespace pensieve::kernels {

namespace {

mx::array valid_prefix(const mx::array& a, int length) {
  return length == a.shape(2) ? a : mx::slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), length, a.shape(3)});
}

// mlx-lm's quantized_scaled_dot_product_attention: scores and output through MLX's quantized
// matmul on the packed keys and values, for one sequence.
mx::array quantized_sdpa(const mx::array& q, const StoredKV& kv, float scale) {
  const int H = q.shape(1), L = q.shape(2), hd = q.shape(3);
  const int KV = kv.keys.shape(1);
  const int repeats = H / KV;
  auto part = [&](const mx::array& a, bool as_q_dtype) {
    auto p = valid_prefix(a, kv.length);
    if (as_q_dtype && p.dtype() != q.dtype()) p = mx::astype(p, q.dtype());
    return repeats > 1 ? mx::expand_dims(p, -3) : p;
  };
  auto queries = mx::multiply(q, mx::array(scale, q.dtype()));
  if (repeats > 1) queries = mx::reshape(queries, {1, KV, repeats, L, hd});
  auto scores = mx::quantized_matmul(queries, part(kv.keys, false), part(*kv.key_scales, true),
                                     part(*kv.key_biases, true), /*transpose=*/true, kv.group_size, kv.bits);
  if (L > 1) {
    const int T = kv.length;
    auto mask = mx::greater_equal(mx::expand_dims(mx::arange(T - L, T, mx::int32), 1),
                                  mx::expand_dims(mx::arange(0, T, mx::int32), 0));
    scores = mx::where(mask, scores, mx::array(std::numeric_limits<float>::lowest(), scores.dtype()));
  }
  scores = mx::softmax(scores, std::vector<int>{-1}, /*precise=*/true);
  auto out = mx::quantized_matmul(scores, part(kv.values, false), part(*kv.value_scales, true),
                                  part(*kv.value_biases, true), /*transpose=*/false, kv.group_size, kv.bits);
  return repeats > 1 ? mx::reshape(out, {1, H, L, hd}) : out;
}

// Groups mx::quantized_matmul does not take (96): keys and values dequantized by MLX's ordinary
// ops, then MLX's SDPA.
mx::array dequantized_sdpa(const mx::array& q, const StoredKV& kv, float scale) {
  auto part = [&](const mx::array& packed, const mx::array& scales, const mx::array& biases) {
    return affine_dequantize_with_ops(valid_prefix(packed, kv.length), valid_prefix(scales, kv.length),
                                      valid_prefix(biases, kv.length), kv.group_size, kv.bits, q.dtype());
  };
  return mx::fast::scaled_dot_product_attention(q, part(kv.keys, *kv.key_scales, *kv.key_biases),
                                                part(kv.values, *kv.value_scales, *kv.value_biases), scale,
                                                q.shape(2) > 1 ? "causal" : "");
}

}  // namespace

mx::array attention_with_mlx_ops(const mx::array& q, const std::vector<StoredKV>& kv, float scale) {
  const int B = q.shape(0), H = q.shape(1), L = q.shape(2), hd = q.shape(3);
  std::vector<mx::array> outs;
  outs.reserve(kv.size());
  for (int b = 0; b < B; ++b) {
    const auto& s = kv[static_cast<std::size_t>(b)];
    auto qb = B == 1 ? q : mx::slice(q, {b, 0, 0, 0}, {b + 1, H, L, hd});
    if (s.bits > 0 && mlx_quantize_supports_group(s.group_size))
      outs.push_back(quantized_sdpa(qb, s, scale));
    else if (s.bits > 0)
      outs.push_back(dequantized_sdpa(qb, s, scale));
    else {
      // Keys and values stored in another float dtype (float16 beside float32 queries on the
      // CPU) are converted whole each call: this is the reference path, not the fast one.
      auto as_q = [&](const mx::array& a) {
        auto p = valid_prefix(a, s.length);
        return p.dtype() == q.dtype() ? p : mx::astype(p, q.dtype());
      };
      outs.push_back(mx::fast::scaled_dot_product_attention(qb, as_q(s.keys), as_q(s.values), scale,
                                                            L > 1 ? "causal" : ""));
    }
  }
  auto out = B == 1 ? outs[0] : mx::concatenate(outs, 0);
  return mx::reshape(mx::transpose(out, {0, 2, 1, 3}), {B, L, H * hd});
}

bool attention_uses_cpu_kernel(const mx::array& q, const std::vector<StoredKV>& kv) {
  if (!cpu_kernels_here() || q.dtype() != mx::float32 || kv.empty())
    return false;
  const auto& first = kv[0];
  const auto kv_dtype = first.keys.dtype();  // bits 0: float32 or float16, the same for every sequence
  if (!attention_supported(q.shape(1), first.keys.shape(1), q.shape(3), first.bits, first.group_size))
    return false;
  for (const auto& s : kv) {
    if (s.bits != first.bits || s.group_size != first.group_size || s.keys.shape(1) != first.keys.shape(1))
      return false;
    if (s.bits == 0 && ((kv_dtype != mx::float32 && kv_dtype != mx::float16) || s.keys.dtype() != kv_dtype ||
                        s.values.dtype() != kv_dtype))
      return false;
    if (s.bits > 0) {
      const auto t = s.key_scales->dtype();
      if ((t != mx::float16 && t != mx::float32) || s.key_biases->dtype() != t || s.value_scales->dtype() != t ||
          s.value_biases->dtype() != t || t != first.key_scales->dtype())
        return false;
    }
  }
  return true;
}

mx::array attention(const mx::array& q, const std::vector<StoredKV>& kv, float scale) {
  if (q.ndim() != 4 || static_cast<int>(kv.size()) != q.shape(0))
    throw Error("attention: q must be [batch, heads, length, head_dim] with one KV set per row");
  for (const auto& s : kv)
    if (s.length < q.shape(2) || s.length > s.keys.shape(2)) throw Error("attention: KV length out of range");
  if (!attention_uses_cpu_kernel(q, kv)) return attention_with_mlx_ops(q, kv, scale);

  // Every array goes in as it is: the node reads views itself (no contiguous nodes per step).
  const mx::Stream stream = mx::default_stream(mx::Device::cpu);
  std::vector<mx::array> inputs{q};
  std::vector<int> lengths;
  for (const auto& s : kv) {
    lengths.push_back(s.length);
    if (s.bits == 0) {
      inputs.insert(inputs.end(), {s.keys, s.values});
    } else {
      inputs.insert(inputs.end(), {s.keys, *s.key_scales, *s.key_biases, s.values, *s.value_scales, *s.value_biases});
    }
  }
  const int B = q.shape(0), H = q.shape(1), L = q.shape(2), hd = q.shape(3);
  return mx::array({B, L, H * hd}, mx::float32,
                   std::make_shared<CpuAttention>(stream, std::move(lengths), scale, kv[0].keys.shape(1),
                                                  kv[0].bits, kv[0].group_size),
                   std::move(inputs));
}

}  // namespace pensieve::kernels
