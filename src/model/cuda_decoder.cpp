#include "model/cuda_decoder.h"

#include <algorithm>
#include <cmath>

#include <mlx/mlx.h>

#include "common/error.h"
#include "common/env_switch.h"
#include "common/log.h"
#include "model/cuda_array_ptr.h"
#include "model/cuda_decoder_kernels.h"
#include "model/phi3.h"

namespace pensieve::model {
namespace mx = mlx::core;
namespace cu = kernels::cuda;
namespace ck = cuda_kernels;

namespace {

bool is_q4_g64(const kernels::LinearWeight& w) {
  return w.quantized() && w.bits == 4 && w.group_size == 64 && w.biases && w.scales &&
         w.layout == kernels::WeightLayout::rows && w.weight.dtype() == mx::uint32 &&
         w.scales->dtype() == mx::float16 && w.biases->dtype() == mx::float16 && w.in_features() % 1024 == 0 &&
         w.out_features() % 8 == 0;
}

}  // namespace

bool CudaDecoder::enabled() {
  static const bool on = env_switch("PENSIEVE_CUDA_DECODER");
  return on && mx::default_device() == mx::Device::gpu && cu::CudaDriver::get() != nullptr;
}

std::unique_ptr<CudaDecoder> CudaDecoder::create(const Phi3Model& model) {
  if (!enabled()) return nullptr;
  const auto& c = model.config_;
  if (model.dtype_ != mx::float16 || model.kv_dtype_ != mx::float16) return nullptr;
  if (c.head_dim % 32 != 0 || c.head_dim > 128 || c.rope_dims() != c.head_dim || c.num_key_value_heads <= 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0 || c.hidden_size % 1024 != 0 || c.hidden_size > 8192)
    return nullptr;
  if (!model.embed_ || !is_q4_g64(*model.embed_) || !model.final_norm_) return nullptr;
  if (model.lm_head_ && !is_q4_g64(*model.lm_head_)) return nullptr;
  for (const auto& l : model.layers_)
    for (const auto* w : {&l.qkv, &l.o, &l.gate_up, &l.down})
      if (!is_q4_g64(*w)) return nullptr;
  try {
    return std::unique_ptr<CudaDecoder>(new CudaDecoder(model, *cu::CudaDriver::get()));
  } catch (const std::exception& e) {
    // MLX's own decode path still works: say why this one is not used, and go on without it.
    log::warn(std::string("CUDA decoder unavailable, decoding through MLX: ") + e.what());
    return nullptr;
  }
}

CudaDecoder::CudaDecoder(const Phi3Model& model, cu::CudaDriver& driver) : model_(model), driver_(driver) {
  const auto& c = model.config_;
  overlap_ = driver.overlaps_launches() && env_switch("PENSIEVE_CUDA_OVERLAP");  // 0: plain launches
  driver_.make_current();
  mx::synchronize();  // the weights are MLX's: written before any of our kernels reads them
  // One kernel per distinct GEMV variant; wanted: each linear layer's variant.
  std::vector<ck::Gemv> gemvs;
  std::vector<std::pair<LinearPtrs*, ck::Gemv>> wanted;
  // Batches of rows on the tensor cores (mma.sync: compute capability 8.0 on), where every linear
  // layer has a batched product.
  bool batches = driver.compute_capability() >= 80 && env_switch("PENSIEVE_CUDA_BATCH_DECODER");
  BatchPlan plan;
  // The GEMVs' products as byte dot products of 16-bit integer x, exact where float16 products
  // round each (0: float16 products; bench/gpu/README.md, eleventh round).
  const bool dp4a = env_switch("PENSIEVE_CUDA_GEMV_DP4A");
  // residual: y += W·x; norm: the RMS norm weight applied to x first (0: none); gated: [gate; up]
  // rows, y = silu(gate) · up.
  auto linear = [&](const kernels::LinearWeight& w, LinearPtrs& p, bool residual, cu::DevicePtr norm = 0,
                    bool gated = false) {
    if (batches) batches = plan_batch_gemm(w.in_features(), w.out_features(), residual ? 1 : gated ? 2 : 0, p, plan);
    if (gated && w.out_features() % 16 != 0) throw Error("CUDA decoder: gate_up rows not a multiple of 16");
    // The GEMVs read the norm weight 16 bytes at a time (kernels/cuda_gemv_source.h, stage_x_int).
    if (norm % 16 != 0) throw Error("CUDA decoder: a norm weight is not 16-byte aligned");
    // A row a warp (gated: the block's first half of warps gate rows, the second their up rows;
    // a row a warp rather than two: +6 % decode, bench/gpu/README.md, tenth round), blocks of
    // ck::gemv_block_warps: each shape looping and single (ck::gemv_variant), the single one for
    // where a grid of them covers every row group at once.
    ck::Gemv g{w.in_features(), 1, residual, norm != 0, gated};
    g.dp4a = dp4a;
    for (const bool looping : {true, false}) {
      const ck::Gemv v = ck::gemv_variant(g, looping, w.out_features());
      if (std::none_of(gemvs.begin(), gemvs.end(), [&](const ck::Gemv& o) { return o.name() == v.name(); }))
        gemvs.push_back(v);
    }
    p.w = cuda_array_ptr(w.weight);
    p.norm = norm;
    p.scales = cuda_array_ptr(*w.scales);
    p.biases = cuda_array_ptr(*w.biases);
    p.out = w.out_features();
    wanted.emplace_back(&p, g);
  };
  layers_.resize(model.layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = model.layers_[i];
    auto& p = layers_[i];
    linear(l.qkv, p.qkv, false, cuda_array_ptr(l.input_norm));
    linear(l.o, p.o, true);
    linear(l.gate_up, p.gate_up, false, cuda_array_ptr(l.post_attention_norm), /*gated=*/true);
    linear(l.down, p.down, true);
  }
  embed_.w = cuda_array_ptr(model.embed_->weight);
  embed_.scales = cuda_array_ptr(*model.embed_->scales);
  embed_.biases = cuda_array_ptr(*model.embed_->biases);
  linear(model.lm_head_ ? *model.lm_head_ : *model.embed_, lm_head_, false, cuda_array_ptr(*model.final_norm_));

  ck::Dims dims{c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, kMaxChunks, kMaxRows};
  std::vector<std::string> names{"embed", "attention", "argmax"};
  for (const auto& g : gemvs) names.push_back(g.name());
  if (!batches) plan.clear();
  const auto gemms = batch_gemm_variants(plan);
  if (!gemms.empty()) names.insert(names.end(), {"attention_rows", "norm_rows"});
  for (const auto& g : gemms) names.push_back(g.name());
  module_ = driver_.compile(ck::source(dims, gemvs, gemms), names);
  find_batch_kernels(plan);
  embed_fn_ = module_->function("embed");
  attention_fn_ = module_->function("attention");
  argmax_fn_ = module_->function("argmax");
  const bool looped = env_switch("PENSIEVE_CUDA_GEMV_LOOP");  // 0: a block a row group
  std::vector<std::pair<cu::Function, int>> resident_of;  // blocks resident at once, a kernel
  auto resident = [&](cu::Function fn, int threads) {
    auto known = std::find_if(resident_of.begin(), resident_of.end(), [&](const auto& e) { return e.first == fn; });
    if (known == resident_of.end())
      known = resident_of.insert(resident_of.end(),
                                 {fn, std::max(1, driver_.resident_blocks(fn, threads) * driver_.multiprocessors())});
    return known->second;
  };
  const bool single = env_switch("PENSIEVE_CUDA_GEMV_SINGLE");  // 0: always the looped kernels
  for (auto& [p, g] : wanted) {
    const ck::Gemv one = ck::gemv_variant(g, false, p->out);
    const cu::Function single_fn = module_->function(one.name());
    if (!looped || (single && p->out / one.warps <= resident(single_fn, one.threads()))) {
      // A block a row group: all resident at once, so that no block waits for a second round
      // (or, without looping blocks, as many blocks as groups).
      p->fn = single_fn;
      p->groups = p->out / one.warps;
      p->threads = static_cast<unsigned>(one.threads());
      p->blocks = static_cast<unsigned>(p->groups);
    } else {
      const ck::Gemv many = ck::gemv_variant(g, true, p->out);
      p->groups = p->out / many.warps;
      p->threads = static_cast<unsigned>(many.threads());
      p->fn = module_->function(many.name());
      // Every resident slot takes a block (a block stages x once for all of its groups), rather
      // than fewer blocks of equal shares, which left some multiprocessors one block.
      p->blocks = static_cast<unsigned>(std::min(p->groups, resident(p->fn, many.threads())));
    }
    if (env_switch("PENSIEVE_CUDA_GEMV_REPORT", false) && (p == &lm_head_ || p == &layers_[0].qkv || p == &layers_[0].o ||
                                                           p == &layers_[0].gate_up || p == &layers_[0].down))
      log::info(g.name() + ": " + std::to_string(p->groups) + " row groups, " + std::to_string(p->blocks) + " blocks, " +
                std::to_string(resident(p->fn, static_cast<int>(p->threads)) / driver_.multiprocessors()) +
                " resident a multiprocessor, " + std::to_string(p->threads) + " threads" +
                (p->fn == single_fn && p->blocks == static_cast<unsigned>(p->groups) ? " (single)" : ""));
  }

  vocab_ = lm_head_.out;
  eps_ = c.rms_norm_eps;
  scale_ = model.rope_.score_scale(/*fold=*/true) / std::sqrt(static_cast<float>(c.head_dim));
  const int q_width = c.num_attention_heads * c.head_dim;
  const int qkv_width = q_width + 2 * c.num_key_value_heads * c.head_dim;
  auto halves = [](std::size_t n) { return n * 2; };
  h_ = driver_.alloc(halves(c.hidden_size));
  qkv_ = driver_.alloc(halves(qkv_width));
  attn_ = driver_.alloc(halves(q_width));
  gu_ = driver_.alloc(halves(static_cast<std::size_t>(c.intermediate_size)));
  logits_ = driver_.alloc(halves(vocab_));
  token_ = driver_.alloc(sizeof(int32_t));
  part_ = driver_.alloc(sizeof(float) * c.num_attention_heads * kMaxChunks * (c.head_dim + 2));
  stream_ = driver_.make_stream();
  done_ = alloc_zeroed(sizeof(int) * static_cast<std::size_t>(c.num_attention_heads));  // attention's counters
  for (int i = 0; i < kEventSlots; ++i) events_.push_back(driver_.make_event());
  host_tokens_ = static_cast<int32_t*>(driver_.alloc_host(sizeof(int32_t) * kEventSlots * kMaxRows));
  host_info_ = static_cast<int32_t*>(driver_.alloc_host(sizeof(int32_t) * kEventSlots * 3 * kMaxRows));
  host_logits_ = driver_.alloc_host(halves(static_cast<std::size_t>(vocab_) * (attention_rows_fn_ ? kMaxRows : 1)));
  // The inverse frequencies of every rotation the model may pick (unquantized caches fold the
  // attention factor into the scale, as the MLX path does for them).
  for (int total : {1, c.original_max_position_embeddings + 1}) {
    const auto& spec = model.rope_.spec_for(total, /*fold=*/true);
    if (std::any_of(inv_freqs_.begin(), inv_freqs_.end(), [&](const auto& e) { return e.first == &spec; })) continue;
    std::vector<float> inv(spec.divisors.size());
    for (std::size_t i = 0; i < inv.size(); ++i) inv[i] = 1.0f / spec.divisors[i];
    auto p = driver_.alloc(sizeof(float) * inv.size());
    driver_.copy_to_device_async(p, inv.data(), sizeof(float) * inv.size(), stream_);
    driver_.synchronize(stream_);
    inv_freqs_.emplace_back(&spec, p);
  }
  // A batch's rows each take the rotation of their own length (as Rope::apply_rows).
  for (int which : {0, 1}) {
    const auto& spec = model.rope_.spec_for(which == 0 ? 1 : c.original_max_position_embeddings + 1, /*fold=*/true);
    for (const auto& [s, p] : inv_freqs_)
      if (s == &spec) row_rope_.inv_freq[which] = p;
    row_rope_.position_scale[which] = spec.position_scale;
    row_rope_.factor[which] = spec.attention_factor;
  }
  row_rope_.long_from = c.original_max_position_embeddings;  // position + 1 > original: long
}

cu::DevicePtr CudaDecoder::alloc_zeroed(std::size_t bytes) {
  const auto p = driver_.alloc(bytes);
  const std::vector<unsigned char> zeros(bytes, 0);
  driver_.copy_to_device_async(p, zeros.data(), bytes, stream_);
  driver_.synchronize(stream_);  // before `zeros` goes
  return p;
}

CudaDecoder::~CudaDecoder() {
  try {
    if (stream_) driver_.synchronize(stream_);
  } catch (...) {
  }
  for (auto p : {h_, qkv_, attn_, gu_, logits_, token_, part_, done_, bs_.h, bs_.x, bs_.qkv, bs_.attn, bs_.gu,
                 bs_.logits, bs_.tokens, bs_.info, bs_.part, bs_.done})
    driver_.free(p);
  for (auto& [spec, p] : inv_freqs_) driver_.free(p);
  for (auto e : events_) driver_.destroy_event(e);
  driver_.free_host(host_tokens_);
  driver_.free_host(host_info_);
  driver_.free_host(host_logits_);
  driver_.destroy_stream(stream_);
}

bool CudaDecoder::accepts(const KVCache& cache) {
  return cache.bits() == 0 && cache.float_dtype().value_or(mx::float16) == mx::float16 && cache.offset() > 0;
}

void CudaDecoder::bind(KVCache& cache) {
  if (!accepts(cache)) throw Error("CUDA decoder: needs a prefilled float16 KV cache");
  finish();
  cache_ = &cache;
  batch_ = nullptr;
  rows_ = 1;
  cache.own_buffers();  // this decoder writes in place
  mx::synchronize();    // MLX's prefill wrote the cache
  refresh_cache_pointers();
}

void CudaDecoder::refresh_cache_pointers() {
  capacity_ = cache_->capacity();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto [keys, values] = cache_->float_buffers(static_cast<int>(i));
    if (keys.dtype() != mx::float16 || keys.shape(0) != 1 || keys.shape(2) != capacity_)
      throw Error("CUDA decoder: unexpected KV cache layout");
    layers_[i].keys = cuda_array_ptr(keys);
    layers_[i].values = cuda_array_ptr(values);
  }
}

void CudaDecoder::gemv(const LinearPtrs& l, cu::DevicePtr x, cu::DevicePtr y) {
  void* params[] = {&x, const_cast<cu::DevicePtr*>(&l.w), const_cast<cu::DevicePtr*>(&l.scales),
                    const_cast<cu::DevicePtr*>(&l.biases), &y, const_cast<cu::DevicePtr*>(&l.norm), &eps_,
                    const_cast<int*>(&l.groups)};
  driver_.launch(l.fn, l.blocks, 1, l.threads, params, stream_, overlap_);
}

void CudaDecoder::step(int32_t token) {
  if (!cache_) throw Error("CUDA decoder: no one-sequence cache bound");
  const auto& c = model_.config_;
  int pos = cache_->offset();
  if (pos + 1 > capacity_) {
    driver_.synchronize(stream_);  // queued steps write into the old buffers (their tokens stay queued)
    cache_->reserve_positions(pos + 1);  // MLX grows the buffers (copying the valid part)
    mx::synchronize();
    refresh_cache_pointers();
  }
  if (static_cast<int>(queued_.size()) >= kEventSlots) throw Error("CUDA decoder: too many unread steps");
  const auto& spec = model_.rope_.spec_for(pos + 1, /*fold=*/true);
  cu::DevicePtr inv_freq = 0;
  for (const auto& [s, p] : inv_freqs_)
    if (s == &spec) inv_freq = p;
  float position_scale = spec.position_scale, factor = spec.attention_factor;
  int len = pos + 1;
  int chunks = std::clamp((len + 63) / 64, 1, kMaxChunks);
  int len_per = (len + chunks - 1) / chunks;
  chunks = (len + len_per - 1) / len_per;
  int cap = capacity_;

  {
    void* params[] = {&token_, &token, &embed_.w, &embed_.scales, &embed_.biases, &h_, &vocab_};
    driver_.launch(embed_fn_, 1, 1, ck::kEmbedThreads, params, stream_, overlap_);
  }
  for (auto& l : layers_) {
    gemv(l.qkv, h_, qkv_);  // qkv = W · rms_norm(h)
    {
      void* params[] = {&qkv_, &l.keys, &l.values, &inv_freq, &pos, &cap, &position_scale, &factor,
                        &part_, &done_, &attn_, &chunks, &len_per, &scale_};
      driver_.launch(attention_fn_, static_cast<unsigned>(c.num_attention_heads), static_cast<unsigned>(chunks),
                     ck::kAttnThreads, params, stream_, overlap_);
    }
    gemv(l.o, attn_, h_);  // h += o · attn
    gemv(l.gate_up, h_, gu_);  // gu = silu(gate) · up of W · rms_norm(h)
    gemv(l.down, gu_, h_);     // h += down · gu
  }
  gemv(lm_head_, h_, logits_);
  {
    void* params[] = {&logits_, &vocab_, &token_};
    driver_.launch(argmax_fn_, 1, 1, ck::kArgmaxThreads, params, stream_, overlap_);
  }
  queue_tokens(token_);
  cache_->advance(1);
}

// The step's tokens to the host, ordered before the next step's argmax overwrites them.
void CudaDecoder::queue_tokens(cu::DevicePtr tokens) {
  const int slot = next_slot_;
  next_slot_ = (next_slot_ + 1) % kEventSlots;
  driver_.copy_to_host_async(host_tokens_ + slot * kMaxRows, tokens, sizeof(int32_t) * rows_, stream_);
  driver_.record(events_[static_cast<std::size_t>(slot)], stream_);
  queued_.push_back(slot);
}

std::vector<int32_t> CudaDecoder::next_tokens() {
  if (queued_.empty()) throw Error("CUDA decoder: no step queued");
  const int slot = queued_.front();
  queued_.pop_front();
  driver_.wait(events_[static_cast<std::size_t>(slot)]);
  const int32_t* t = host_tokens_ + slot * kMaxRows;
  return std::vector<int32_t>(t, t + rows_);
}

std::vector<float> CudaDecoder::logits() {
  const std::size_t n = static_cast<std::size_t>(vocab_) * rows_;
  driver_.copy_to_host_async(host_logits_, batch_ ? bs_.logits : logits_, n * 2, stream_);
  driver_.synchronize(stream_);
  queued_.clear();  // every queued token has been computed; a caller reading logits samples itself
  const auto* h = static_cast<const mx::float16_t*>(host_logits_);
  std::vector<float> out(n);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(h[i]);
  return out;
}

void CudaDecoder::finish() {
  if (stream_) driver_.synchronize(stream_);
  queued_.clear();  // a token nobody read (the sequence ended first) is never wanted later
}

}  // namespace pensieve::model
