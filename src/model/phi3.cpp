#include "model/phi3.h"

#include <cmath>
#include <set>
#include <tuple>

#include "common/error.h"
#include "kernels/attention.h"
#include "kernels/attention_cuda.h"
#include "kernels/norm.h"
#include "model/weight_table.h"

namespace pensieve::model {
namespace mx = mlx::core;

Phi3Model::Phi3Model(ModelConfig config, Rope rope, mx::Dtype dtype, mx::Dtype kv_dtype)
    : config_(std::move(config)), rope_(std::move(rope)), dtype_(dtype), kv_dtype_(kv_dtype) {}

namespace {

// One linear weight, checked against the config and prepared for `dtype` activations. A weight
// bound for the CPU kernels' tiled16 layout is read from the file straight into it, never held
// in MLX's layout as well.
kernels::LinearWeight load_linear(WeightTable& table, const std::string& module, int out, int in,
                                  mx::Dtype dtype) {
  auto w = table.linear(module, out, in);  // unevaluated
  if (kernels::repacks_to_tiled16(w, dtype)) w = table.tiled16(module, w);
  return kernels::with_float_dtype(w, dtype);
}

}  // namespace

Phi3Model Phi3Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto config = ModelConfig::load(dir);
  WeightTable table(dir, config);
  const int D = config.hidden_size;
  const int q_out = config.num_attention_heads * config.head_dim;
  const int kv_out = config.num_key_value_heads * config.head_dim;

  // The activation dtype follows the device (see LoadOptions) unless the caller fixes it.
  const mx::Device device = mx::default_device();
  mx::Dtype dtype = options.dtype.value_or(device == mx::Device::cpu ? mx::float32 : table.float_dtype());
  mx::Dtype kv_dtype = options.kv_dtype.value_or(KVCache::default_float_dtype(dtype, device));
  if (!mx::issubdtype(kv_dtype, mx::floating)) throw Error("KV cache storage must be a float dtype");
  Phi3Model m(config, Rope(config), dtype, kv_dtype);

  auto norm = [&](const std::string& name) { return mx::astype(table.norm(name, D), dtype); };
  auto linear = [&](const std::string& name, int out, int in) {
    return load_linear(table, name, out, in, dtype);
  };
  m.embed_ = linear("model.embed_tokens", config.vocab_size, D);
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    m.layers_.push_back(Layer{
        norm(p + "input_layernorm"),
        norm(p + "post_attention_layernorm"),
        linear(p + "self_attn.qkv_proj", q_out + 2 * kv_out, D),
        linear(p + "self_attn.o_proj", D, q_out),
        linear(p + "mlp.gate_up_proj", 2 * config.intermediate_size, D),
        linear(p + "mlp.down_proj", D, config.intermediate_size),
    });
  }
  m.final_norm_ = norm("model.norm");
  if (!config.tie_word_embeddings) m.lm_head_ = linear("lm_head", config.vocab_size, D);
  table.check_all_used();

  // Materialise the (converted) weights now so that load errors and load time show up here.
  std::vector<mx::array> all;
  auto add = [&](const kernels::LinearWeight& w) {
    all.push_back(w.weight);
    if (w.scales) all.push_back(*w.scales);
    if (w.biases) all.push_back(*w.biases);
  };
  add(*m.embed_);
  if (m.lm_head_) add(*m.lm_head_);
  all.push_back(*m.final_norm_);
  for (const auto& l : m.layers_) {
    all.push_back(l.input_norm);
    all.push_back(l.post_attention_norm);
    for (const auto* w : {&l.qkv, &l.o, &l.gate_up, &l.down}) add(*w);
  }
  mx::eval(all);
  for (const auto& a : all) m.weight_bytes_ += a.nbytes();
  return m;
}

mx::array Phi3Model::attention(const mx::array& x, const Layer& layer, int index,
                               std::span<KVCache* const> caches) const {
  const int B = x.shape(0), L = x.shape(1);
  const int H = config_.num_attention_heads, KV = config_.num_key_value_heads, hd = config_.head_dim;
  auto qkv = kernels::linear(x, layer.qkv);
  // Unquantized caches keep keys without LongRoPE's attention factor (see Rope); all of a batch's
  // caches are alike.
  const bool fold = caches[0]->bits() == 0;
  const float scale = rope_.score_scale(fold) / std::sqrt(static_cast<float>(hd));
  // One sequence on the CPU: the rotations and the cache writes in one node (the same bits).
  if (B == 1 && qkv.dtype() == mx::float32) {
    KVCache& cache = *caches[0];
    const int offset = cache.offset();
    const auto& spec = rope_.spec_for(offset + L, fold);
    if (kernels::rope_and_store_available(spec, hd)) {
      if (auto buffers = cache.buffers_to_write(index, L)) {
        auto outs = kernels::rope_and_store(qkv, buffers->first, buffers->second, H, KV, spec, offset);
        auto stored = cache.written(index, outs[1], outs[2], L);
        return kernels::linear(kernels::attention(outs[0], {stored}, scale), layer.o);
      }
    }
  }
  auto parts = mx::split(qkv, mx::Shape{H * hd, H * hd + KV * hd}, -1);
  auto heads = [&](const mx::array& a, int n) {
    return mx::transpose(mx::reshape(a, {a.shape(0), L, n, hd}), {0, 2, 1, 3});
  };
  // RoPE and the cache update are per sequence (each has its own offset); attention then runs
  // once over the whole batch.
  std::vector<mx::array> queries;
  std::vector<kernels::StoredKV> stored;
  queries.reserve(B);
  stored.reserve(B);
  auto one_sequence = [&](const mx::array& q_in, const mx::array& k_in, const mx::array& v_in, KVCache& cache) {
    const int offset = cache.offset();
    const int total = offset + L;
    queries.push_back(rope_.apply(heads(q_in, H), offset, total, fold));
    auto k = rope_.apply(heads(k_in, KV), offset, total, fold);
    stored.push_back(cache.update(index, k, heads(v_in, KV)));
  };
  if (B == 1) {
    one_sequence(parts[0], parts[1], parts[2], *caches[0]);
  } else {
    auto qs = mx::split(parts[0], B, 0), ks = mx::split(parts[1], B, 0), vs = mx::split(parts[2], B, 0);
    for (int b = 0; b < B; ++b) one_sequence(qs[b], ks[b], vs[b], *caches[b]);
  }
  auto q = B == 1 ? queries[0] : mx::concatenate(queries, 0);
  return kernels::linear(kernels::attention(q, stored, scale), layer.o);
}

mx::array Phi3Model::forward(const mx::array& tokens, KVCache& cache, bool last_only) const {
  KVCache* one[] = {&cache};
  return forward(tokens, std::span<KVCache* const>(one), last_only);
}

mx::array Phi3Model::forward(const mx::array& tokens, std::span<KVCache* const> caches, bool last_only) const {
  if (tokens.ndim() != 2 || tokens.shape(0) != static_cast<int>(caches.size()))
    throw Error("forward: tokens must be [batch, length] with one cache per row");
  return run_layers(tokens, last_only, [&](const mx::array& x, const Layer& layer, int index) {
    return attention(x, layer, index, caches);
  });
}

mx::array Phi3Model::forward(const mx::array& tokens, BatchKVCache& batch) const {
  if (tokens.ndim() != 2 || tokens.shape(0) != batch.rows() || tokens.shape(1) != 1)
    throw Error("forward: a batched decode step takes one token for each row of the batch");
  batch.begin_step();
  return run_layers(tokens, true, [&](const mx::array& x, const Layer& layer, int index) {
    return batched_attention(x, layer, index, batch);
  });
}

mx::array Phi3Model::batched_attention(const mx::array& x, const Layer& layer, int index, BatchKVCache& batch) const {
  const int B = x.shape(0);
  const int H = config_.num_attention_heads, KV = config_.num_key_value_heads, hd = config_.head_dim;
  auto qkv = kernels::linear(x, layer.qkv);
  auto parts = mx::split(qkv, mx::Shape{H * hd, H * hd + KV * hd}, -1);
  auto heads = [&](const mx::array& a, int n) { return mx::transpose(mx::reshape(a, {B, 1, n, hd}), {0, 2, 1, 3}); };
  // Unquantized, as every cache that joins the batch: keys without the attention factor.
  auto q = rope_.apply_rows(heads(parts[0], H), batch.positions(), batch.positions_array(), /*fold=*/true);
  auto k = rope_.apply_rows(heads(parts[1], KV), batch.positions(), batch.positions_array(), /*fold=*/true);
  auto [keys, values] = batch.update(index, k, heads(parts[2], KV));
  const float scale = rope_.score_scale(/*fold=*/true) / std::sqrt(static_cast<float>(hd));
  if (kernels::cuda_decode_attention_available()) {
    auto [all_keys, all_values] = batch.buffers(index);
    if (auto out = kernels::cuda_decode_attention(q, all_keys, all_values, batch.spans(), scale))
      return kernels::linear(*out, layer.o);
  }
  if (keys.dtype() != q.dtype()) {  // float16 storage under float32 activations (the CPU)
    keys = mx::astype(keys, q.dtype());
    values = mx::astype(values, q.dtype());
  }
  auto out = mx::fast::scaled_dot_product_attention(q, keys, values, scale, "", batch.mask());
  out = mx::reshape(mx::transpose(out, {0, 2, 1, 3}), {B, 1, H * hd});
  return kernels::linear(out, layer.o);
}

template <class Attend>
mx::array Phi3Model::run_layers(const mx::array& tokens, bool last_only, const Attend& attend) const {
  const float eps = config_.rms_norm_eps;
  auto h = kernels::embedding_rows(tokens, *embed_, dtype_);
  // Each residual add is fused with the norm that follows it (one graph node on the CPU).
  auto normed = kernels::rms_norm(h, layers_.empty() ? *final_norm_ : layers_[0].input_norm, eps);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto& layer = layers_[i];
    auto attended = attend(normed, layer, static_cast<int>(i));
    std::tie(h, normed) = kernels::add_rms_norm(h, attended, layer.post_attention_norm, eps);
    auto mlp = kernels::linear_swiglu(kernels::linear(normed, layer.gate_up), layer.down);
    const auto& next_norm = i + 1 < layers_.size() ? layers_[i + 1].input_norm : *final_norm_;
    std::tie(h, normed) = kernels::add_rms_norm(h, mlp, next_norm, eps);
  }
  if (last_only && normed.shape(1) > 1) {
    const int L = normed.shape(1);
    normed = mx::slice(normed, {0, L - 1, 0}, {normed.shape(0), L, normed.shape(2)});
  }
  return kernels::linear(normed, lm_head_ ? *lm_head_ : *embed_);
}

}  // namespace pensieve::model
