// model::CudaDecoder's batch mode: the decode steps of model::BatchKVCache's rows on the tensor
// cores (cuda_decoder.h).
#include <algorithm>
#include <cmath>

#include <mlx/mlx.h>

#include "common/env_switch.h"
#include "common/error.h"
#include "model/cuda_array_ptr.h"
#include "model/cuda_decoder.h"
#include "model/phi3.h"

namespace pensieve::model {
namespace mx = mlx::core;
namespace cu = kernels::cuda;
namespace ck = cuda_kernels;

namespace {

constexpr int kBatchThreads = 256;  // the batched product's and norm_rows' blocks (8 warps)

// The kernel variant for a batch of `rows`: up to 8 or up to 32 rows of x. (A 16-row variant gave
// wrong products on the H100 while the 8- and 32-row ones matched MLX: bench/gpu/README.md,
// seventh round; 16 rows take the 32-row kernels, the extra rows being loads only.)
constexpr int kVariantRows[] = {1, 4};  // NT: x rows / 8
int variant_of(int rows) { return rows <= 8 ? 0 : 1; }

}  // namespace

bool CudaDecoder::plan_batch_gemm(int in, int out, int mode, LinearPtrs& p, BatchPlan& plan) const {
  // Compute capability 9.0 on: blocks of kSliceTiles tiles over slices of K, the slices of a row
  // range a cluster (gemm_slices). A block stages its slice of x in shared memory once for 128
  // weight rows, where gemm_rows' blocks each read all of x for their 32: 32 rows decode 10 880
  // tokens/s against 8 965, the server's 32 streams 10 182 against 8 417 (H200;
  // bench/gpu/README.md, sixteenth round). PENSIEVE_CUDA_GEMM_SLICES=0: gemm_rows.
  const bool sliced = driver_.compute_capability() >= 90 && env_switch("PENSIEVE_CUDA_GEMM_SLICES");
  const auto launch = ck::batch_launch(in, out, mode, sliced);
  if (!launch) return false;
  p.batch = *launch;
  for (int nt : kVariantRows) {
    ck::BatchGemm g = launch->gemm;
    g.NT = nt;
    plan.emplace_back(&p, g);
  }
  return true;
}

std::vector<ck::BatchGemm> CudaDecoder::batch_gemm_variants(const BatchPlan& plan) {
  std::vector<ck::BatchGemm> out;
  for (const auto& [p, g] : plan)
    if (std::none_of(out.begin(), out.end(), [&](const ck::BatchGemm& o) { return o.name() == g.name(); }))
      out.push_back(g);
  return out;
}

void CudaDecoder::find_batch_kernels(const BatchPlan& plan) {
  if (plan.empty()) return;
  attention_rows_fn_ = module_->function("attention_rows");
  norm_rows_fn_ = module_->function("norm_rows");
  for (const auto& [p, g] : plan) p->batch_fn[variant_of(8 * g.NT)] = module_->function(g.name());
}

bool CudaDecoder::accepts(const BatchKVCache& batch) const {
  if (!attention_rows_fn_ || batch.rows() < 1 || batch.rows() > kMaxRows) return false;
  return batch.buffers(0).first.dtype() == mx::float16;
}

void CudaDecoder::bind(BatchKVCache& batch) {
  if (!accepts(batch)) throw Error("CUDA decoder: cannot take this decode batch");
  finish();
  if (!bs_.h) {  // the scratch of the largest batch, once
    const auto& c = model_.config_;
    const std::size_t R = kMaxRows, H = static_cast<std::size_t>(c.num_attention_heads);
    const std::size_t hd = static_cast<std::size_t>(c.head_dim);
    const std::size_t q_width = H * hd, qkv_width = q_width + 2 * static_cast<std::size_t>(c.num_key_value_heads) * hd;
    bs_.h = driver_.alloc(2 * R * static_cast<std::size_t>(c.hidden_size));
    bs_.x = driver_.alloc(2 * R * static_cast<std::size_t>(c.hidden_size));
    bs_.qkv = driver_.alloc(2 * R * qkv_width);
    bs_.attn = driver_.alloc(2 * R * q_width);
    bs_.gu = driver_.alloc(2 * R * static_cast<std::size_t>(c.intermediate_size));
    bs_.logits = driver_.alloc(2 * R * static_cast<std::size_t>(vocab_));
    bs_.tokens = driver_.alloc(sizeof(int32_t) * R);
    bs_.info = driver_.alloc(sizeof(int32_t) * 2 * R);
    bs_.part = driver_.alloc(sizeof(float) * R * H * kMaxChunks * (hd + 2));
    bs_.done = alloc_zeroed(sizeof(int) * R * H);  // attention_rows' finished-block counters
  }
  batch_ = &batch;
  cache_ = nullptr;
  rows_ = batch.rows();
  mx::eval(batch.state());
  mx::synchronize();  // MLX wrote the buffers (joins, compaction, its own steps)
  refresh_batch_pointers();
}

void CudaDecoder::refresh_batch_pointers() {
  const auto& c = model_.config_;
  capacity_ = batch_->columns();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto [keys, values] = batch_->buffers(static_cast<int>(i));
    for (const auto* a : {&keys, &values})
      if (a->dtype() != mx::float16 || a->ndim() != 4 || a->shape(0) != rows_ || a->shape(1) != c.num_key_value_heads ||
          a->shape(2) != capacity_ || a->shape(3) != c.head_dim)
        throw Error("CUDA decoder: unexpected decode batch layout");
    layers_[i].keys = cuda_array_ptr(keys);
    layers_[i].values = cuda_array_ptr(values);
  }
}

void CudaDecoder::gemm_rows(const LinearPtrs& l, cu::DevicePtr x, cu::DevicePtr y) {
  int n_out = l.batch.values, rows = rows_;
  void* params[] = {&x, const_cast<cu::DevicePtr*>(&l.w), const_cast<cu::DevicePtr*>(&l.scales),
                    const_cast<cu::DevicePtr*>(&l.biases), &y, &n_out, &rows};
  driver_.launch(l.batch_fn[variant_of(rows_)], l.batch.blocks, l.batch.slices, kBatchThreads, params, stream_, overlap_);
}

void CudaDecoder::norm_rows(cu::DevicePtr norm, cu::DevicePtr x) {
  void* params[] = {&x, &norm, &eps_, &bs_.x};
  driver_.launch(norm_rows_fn_, static_cast<unsigned>(rows_), 1, kBatchThreads, params, stream_, overlap_);
}

void CudaDecoder::step_rows(std::span<const int32_t> tokens) {
  if (!batch_) throw Error("CUDA decoder: no decode batch bound");
  BatchKVCache& batch = *batch_;
  if (batch.rows() != rows_) throw Error("CUDA decoder: the decode batch's rows changed while bound");
  if (!tokens.empty() && static_cast<int>(tokens.size()) != rows_) throw Error("CUDA decoder: one token a row");
  if (static_cast<int>(queued_.size()) >= kEventSlots) throw Error("CUDA decoder: too many unread steps");
  const bool grows = batch.full();
  if (grows) driver_.synchronize(stream_);  // queued steps write the old buffers, which MLX copies
  batch.begin_step();
  if (grows) {
    mx::eval(batch.state());
    mx::synchronize();
    refresh_batch_pointers();
  }
  // The step's row information (and tokens) through this slot's pinned memory: it is not
  // rewritten before the slot's event, after the copy.
  int32_t* info = host_info_ + static_cast<std::size_t>(next_slot_) * 3 * kMaxRows;
  int column = batch.column();
  for (int r = 0; r < rows_; ++r) {
    const int position = batch.positions()[static_cast<std::size_t>(r)];
    info[kMaxRows + r] = column - position;  // first column: a free row (position 0) sees only its own
    info[2 * kMaxRows + r] = position;
  }
  driver_.copy_to_device_async(bs_.info, info + kMaxRows, sizeof(int32_t) * 2 * kMaxRows, stream_);
  if (!tokens.empty()) {
    std::copy(tokens.begin(), tokens.end(), info);
    driver_.copy_to_device_async(bs_.tokens, info, sizeof(int32_t) * tokens.size(), stream_);
  }
  const auto& c = model_.config_;
  const int len = column + 1;
  int chunks = std::clamp((len + 64 * rows_ - 1) / (64 * rows_), 1, kMaxChunks);
  int len_per = (len + chunks - 1) / chunks;
  chunks = (len + len_per - 1) / len_per;
  int cap = capacity_, token_host = -1;
  {
    void* params[] = {&bs_.tokens, &token_host, &embed_.w, &embed_.scales, &embed_.biases, &bs_.h, &vocab_};
    driver_.launch(embed_fn_, static_cast<unsigned>(rows_), 1, ck::kEmbedThreads, params, stream_, overlap_);
  }
  for (auto& l : layers_) {
    norm_rows(l.qkv.norm, bs_.h);
    gemm_rows(l.qkv, bs_.x, bs_.qkv);
    {
      void* params[] = {&bs_.qkv, &l.keys, &l.values, &row_rope_, &bs_.info, &column, &cap, &bs_.part, &bs_.done,
                        &bs_.attn, &chunks, &len_per, &scale_};
      driver_.launch(attention_rows_fn_, static_cast<unsigned>(c.num_attention_heads), static_cast<unsigned>(chunks),
                     ck::kAttnThreads, params, stream_, overlap_, static_cast<unsigned>(rows_));
    }
    gemm_rows(l.o, bs_.attn, bs_.h);  // h += o · attn
    norm_rows(l.gate_up.norm, bs_.h);
    gemm_rows(l.gate_up, bs_.x, bs_.gu);  // gu = silu(gate) · up
    gemm_rows(l.down, bs_.gu, bs_.h);     // h += down · gu
  }
  norm_rows(lm_head_.norm, bs_.h);
  gemm_rows(lm_head_, bs_.x, bs_.logits);
  {
    void* params[] = {&bs_.logits, &vocab_, &bs_.tokens};
    driver_.launch(argmax_fn_, static_cast<unsigned>(rows_), 1, ck::kArgmaxThreads, params, stream_, overlap_);
  }
  batch.end_step_written();
  queue_tokens(bs_.tokens);
}

}  // namespace pensieve::model
