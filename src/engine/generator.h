#pragma once
// Single-sequence text generation (the `run` and `bench` commands): chunked prefill, then a
// decode loop that builds step n+1's graph while step n evaluates (mx::async_eval) when the next
// token can be chosen on the device, sampling on the host otherwise.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mlx/mlx.h>

#include "engine/request.h"
#include "model/cuda_decoder.h"
#include "model/phi3.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::engine {

class Sequence;

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids, EOS excluded
  std::string text;
  FinishReason finish = FinishReason::max_tokens;
  std::optional<std::string> stop_string;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Receives text as it becomes final; returning false cancels the generation.
using TextCallback = std::function<bool(std::string_view)>;

// Every id that ends generation for this model: the tokenizer's and the config's.
std::vector<int32_t> eos_ids_of(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer);

// Runs the prompt through the model in chunks of `chunk` positions; returns the logits of the
// last position, [1, 1, V]. Evaluates the cache between chunks so memory stays bounded.
mlx::core::array prefill(const model::Phi3Model& model, const std::vector<int32_t>& tokens,
                         model::KVCache& cache, int chunk);

class Generator {
 public:
  // kv_bits: 0 (float KV cache), 8 or 4 (quantized in groups of kv_group_size, see model::KVCache).
  Generator(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer, int kv_bits = 0,
            int kv_group_size = model::KVCache::kDefaultGroupSize);

  GenerationResult generate(const GenerationRequest& request, const TextCallback& on_text = {}) const;
  // The same from a cache that already holds the first `cached` prompt positions (benchmarks
  // start from a synthetic long context this way); at least one prompt token must remain.
  GenerationResult generate(const GenerationRequest& request, model::KVCache cache, int cached,
                            const TextCallback& on_text = {}) const;
  // Logits of the prompt's last position, [vocab] float32 (for parity checks and tools).
  std::vector<float> last_logits(const std::vector<int32_t>& prompt, int prefill_chunk = 512) const;
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }

 private:
  // The decode loop on model::CudaDecoder (from the prefilled cache on), where it applies.
  void decode_on_cuda(model::CudaDecoder& decoder, const GenerationRequest& req, Sequence& seq, int32_t first,
                      bool on_device, const std::function<void(const std::string&)>& emit) const;
  // Made at the first generation that can use it (NVRTC compiles its kernels then); null where
  // it does not apply.
  model::CudaDecoder* cuda_decoder() const;

  const model::Phi3Model& model_;
  const tokenizer::Tokenizer& tokenizer_;
  std::vector<int32_t> eos_ids_;
  int kv_bits_;
  int kv_group_size_;
  mutable std::unique_ptr<model::CudaDecoder> cuda_;
  mutable bool cuda_tried_ = false;
};

}  // namespace pensieve::engine
