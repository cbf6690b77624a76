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
// Applies to float16 models whose linear layers are all 4-bit group-64 affine with biases, with an
// unquantized float16 KV cache; create() returns nullptr otherwise, off CUDA, and with
// PENSIEVE_CUDA_DECODER=0.
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "kernels/cuda_driver.h"
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
  int32_t next_token();
  // Steps queued whose token next_token() has not returned yet.
  int unread() const { return static_cast<int>(queued_.size()); }
  // The logits of the last step queued, float32 (waits for it).
  std::vector<float> logits();
  // Waits for every queued step (tokens not read are dropped): MLX may use the cache again.
  void finish();

 private:
  struct LinearPtrs {
    kernels::cuda::DevicePtr w = 0, scales = 0, biases = 0;
    kernels::cuda::DevicePtr norm = 0;  // RMS norm weight the kernel applies to x first, or 0
    int groups = 0;                     // row groups of 8 warps' rows
    unsigned blocks = 0;                // the launch's grid: as many as are resident at once, or fewer
    int out = 0;
    kernels::cuda::Function fn = nullptr;
  };
  struct LayerPtrs {
    LinearPtrs qkv, o, gate_up, down;
    kernels::cuda::DevicePtr keys = 0, values = 0;
  };
  explicit CudaDecoder(const Phi3Model& model, kernels::cuda::CudaDriver& driver);
  void refresh_cache_pointers();
  void gemv(const LinearPtrs& l, kernels::cuda::DevicePtr x, kernels::cuda::DevicePtr y);

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
  int32_t* host_tokens_ = nullptr;  // pinned, one slot an event
  void* host_logits_ = nullptr;     // pinned float16
  std::deque<int> queued_;          // event slots of steps whose token is not read yet
  int next_slot_ = 0;
  KVCache* cache_ = nullptr;
  int capacity_ = 0;
  float eps_ = 0, scale_ = 0;
  int vocab_ = 0;
  // Each kernel launched to overlap the previous one's end (every kernel of the step waits for
  // its predecessor in its code, after loading the weights it needs): the gaps between ~160
  // launches a step are most of what the step spends beyond reading the weights.
  bool overlap_ = false;
};

}  // namespace pensieve::model
