#pragma once
// One sequence's decode steps straight on a CUDA GPU, outside MLX's graph. On MLX's CUDA backend
// a one-token step is bound by the host: building and encoding ~1000 graph nodes (every op and
// view of 32 layers) takes as long as the GPU's work (bench/gpu/README.md, fourth round). Here a
// step is ~160 kernel launches of Pensieve's own kernels (model/cuda_decoder_kernels.h) on its
// own stream: the weights and the KV cache stay MLX's arrays (their device memory is read and the
// cache written in place), prefill stays MLX's, and the decoder continues from the cache MLX
// filled. Greedy steps chain on the device (the next step reads the argmax the last one wrote),
// so a step can be queued before the previous token is read.
//
// It also runs the decode steps of a batch of sequences (model::BatchKVCache's rows, up to
// kMaxRows) where the GPU has tensor cores: each weight is read once a step for every row
// (kernels: cuda_decoder_kernels.h's BatchGemm), attention reads each row's span of the shared
// buffers, and the step's new column is written in place. MLX's batched graph of the same step
// costs the host as much as a lone sequence's did (bench/gpu/README.md).
//
// Applies to float16 models whose linear layers are all 4-bit group-64 affine with biases, with an
// unquantized float16 KV cache; create() returns nullptr otherwise, off CUDA, and with
// PENSIEVE_CUDA_DECODER=0 (PENSIEVE_CUDA_BATCH_DECODER=0 keeps batches on MLX's path).
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "kernels/cuda_driver.h"
#include "model/batch_kv_cache.h"
#include "model/cuda_decoder_kernels.h"
#include "model/kv_cache.h"

namespace pensieve::model {

class Phi3Model;

class CudaDecoder {
 public:
  static std::unique_ptr<CudaDecoder> create(const Phi3Model& model);
  // Whether create() would try: CUDA present, MLX on the GPU, not turned off.
  static bool enabled();
  ~CudaDecoder();
  CudaDecoder(const CudaDecoder&) = delete;
  CudaDecoder& operator=(const CudaDecoder&) = delete;

  // Whether bind() takes `cache`: unquantized float16, prefilled.
  static bool accepts(const KVCache& cache);
  // Continues `cache` (accepts(), evaluated by MLX): each step writes its position and moves the
  // cache's offset. The cache must outlive the decoding (until finish()).
  void bind(KVCache& cache);
  // Queues the step that consumes `token` (token < 0: the argmax the previous step left on the
  // device) at the cache's offset.
  void step(int32_t token);
  // The argmax of the oldest queued step whose token has not been read (waits for it).
  int32_t next_token() { return next_tokens()[0]; }
  // The same for each row bound (one for a KVCache).
  std::vector<int32_t> next_tokens();
  // Steps queued whose token next_token() has not returned yet.
  int unread() const { return static_cast<int>(queued_.size()); }
  // The logits of the last step queued, float32, rows bound × vocabulary (waits for it).
  std::vector<float> logits();
  // Waits for every queued step (tokens not read are dropped): MLX may use the cache again.
  void finish();

  static constexpr int kMaxRows = 32;
  // Whether bind() takes `batch`: float16 rows, at most kMaxRows of them, and the batched kernels
  // built (compute capability 8.0 on, not turned off).
  bool accepts(const BatchKVCache& batch) const;
  // Continues every row of `batch` (accepts(), evaluated by MLX): each step writes the column of
  // its new positions and ends the batch's step. The batch must keep its rows (no add, remove or
  // compaction) until finish(), and outlive the decoding.
  void bind(BatchKVCache& batch);
  // Queues the step that consumes tokens[r] for each row r of the batch bound (empty: the argmaxes
  // the previous step left on the device). A free row's token is anything in the vocabulary.
  void step_rows(std::span<const int32_t> tokens);
  // Rows bound: 1 for a KVCache.
  int rows() const { return rows_; }

 private:
  struct LinearPtrs {
    kernels::cuda::DevicePtr w = 0, scales = 0, biases = 0;
    kernels::cuda::DevicePtr norm = 0;  // RMS norm weight the kernel applies to x first, or 0
    int groups = 0;                     // row groups: a block's warps' rows each
    unsigned blocks = 0;                // the launch's grid: as many as are resident at once, or fewer
    unsigned threads = 0;               // a block's: a row a warp
    int out = 0;                        // the weight's rows
    kernels::cuda::Function fn = nullptr;
    // The batched product: a kernel for up to 8 and up to 32 rows, its grid and output values a row.
    kernels::cuda::Function batch_fn[2] = {nullptr, nullptr};
    cuda_kernels::BatchLaunch batch;
  };
  // Device scratch of a batch's step (kMaxRows rows each), made at the first bind(BatchKVCache&).
  struct BatchScratch {
    kernels::cuda::DevicePtr h = 0, x = 0, qkv = 0, attn = 0, gu = 0, logits = 0, tokens = 0, info = 0, part = 0,
                             done = 0;
  };
  struct LayerPtrs {
    LinearPtrs qkv, o, gate_up, down;
    kernels::cuda::DevicePtr keys = 0, values = 0;
  };
  explicit CudaDecoder(const Phi3Model& model, kernels::cuda::CudaDriver& driver);
  void refresh_cache_pointers();
  void gemv(const LinearPtrs& l, kernels::cuda::DevicePtr x, kernels::cuda::DevicePtr y);
  static constexpr int kEventSlots = 4;
  static constexpr int kMaxChunks = 64;
  // Each linear layer's batched product, while the module is being built.
  using BatchPlan = std::vector<std::pair<LinearPtrs*, cuda_kernels::BatchGemm>>;
  // The batched product of a linear layer (mode as cuda_kernels::BatchGemm's) into `plan`: false
  // where none fits its shape. Then every variant the plan wants, and the kernels found once
  // compiled (cuda_decoder_batch.cpp).
  bool plan_batch_gemm(int in, int out, int mode, LinearPtrs& p, BatchPlan& plan) const;
  static std::vector<cuda_kernels::BatchGemm> batch_gemm_variants(const BatchPlan& plan);
  void find_batch_kernels(const BatchPlan& plan);
  // Device memory of `bytes` zero bytes (counters that kernels leave at zero).
  kernels::cuda::DevicePtr alloc_zeroed(std::size_t bytes);
  void refresh_batch_pointers();
  void gemm_rows(const LinearPtrs& l, kernels::cuda::DevicePtr x, kernels::cuda::DevicePtr y);
  void norm_rows(kernels::cuda::DevicePtr norm, kernels::cuda::DevicePtr x);
  // After a step's launches: its tokens to the host slot and the slot's event.
  void queue_tokens(kernels::cuda::DevicePtr tokens);

  const Phi3Model& model_;
  kernels::cuda::CudaDriver& driver_;
  std::unique_ptr<kernels::cuda::Module> module_;
  kernels::cuda::Stream stream_ = nullptr;
  kernels::cuda::Function embed_fn_ = nullptr, attention_fn_ = nullptr, argmax_fn_ = nullptr;
  std::vector<LayerPtrs> layers_;
  LinearPtrs embed_, lm_head_;
  // Scratch: residual, qkv, attention output, silu(gate) · up, logits, token, attention partials
  // and the attention's finished-block counters.
  kernels::cuda::DevicePtr h_ = 0, qkv_ = 0, attn_ = 0, gu_ = 0, logits_ = 0, token_ = 0, part_ = 0, done_ = 0;
  // RoPE inverse frequencies for each spec the model may use (short and long LongRoPE factors).
  std::vector<std::pair<const void*, kernels::cuda::DevicePtr>> inv_freqs_;
  std::vector<kernels::cuda::Event> events_;
  int32_t* host_tokens_ = nullptr;  // pinned, kMaxRows a slot, one slot an event
  int32_t* host_info_ = nullptr;    // pinned, a batch step's tokens, first columns, positions (kMaxRows each), a slot an event
  void* host_logits_ = nullptr;     // pinned float16, kMaxRows × vocabulary
  std::deque<int> queued_;          // event slots of steps whose token is not read yet
  int next_slot_ = 0;
  KVCache* cache_ = nullptr;
  BatchKVCache* batch_ = nullptr;
  int rows_ = 1;
  BatchScratch bs_;
  kernels::cuda::Function attention_rows_fn_ = nullptr, norm_rows_fn_ = nullptr;
  struct RowRope {  // as the kernel source's RowRope
    kernels::cuda::DevicePtr inv_freq[2] = {0, 0};
    float position_scale[2] = {1, 1};
    float factor[2] = {1, 1};
    int long_from = 0;
  } row_rope_;
  int capacity_ = 0;
  float eps_ = 0, scale_ = 0;
  int vocab_ = 0;
  // Each kernel launched to overlap the previous one's end (every kernel of the step waits for
  // its predecessor in its code, after loading the weights it needs): the gaps between ~160
  // launches a step are most of what the step spends beyond reading the weights.
  bool overlap_ = false;
};

}  // namespace pensieve::model
