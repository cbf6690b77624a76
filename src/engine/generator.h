#pragma once
// Single-sequence text generation: chunked prefill, then a decode loop that builds step n+1's
// graph while step n evaluates (mx::async_eval) when the next token can be chosen on the device,
// sampling on the host otherwise; stops on EOS ids, max tokens or a stop string.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <mlx/mlx.h>

#include "model/phi3.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::engine {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  sampling::SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;  // stop strings; never part of the output
  int prefill_chunk = 512;        // prompt positions per forward pass (bounds prefill memory)
  bool ignore_eos = false;        // benchmarks: always produce max_tokens
};

enum class FinishReason { eos, max_tokens, stop_string, cancelled };
const char* to_string(FinishReason r);

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids, EOS excluded
  std::string text;
  FinishReason finish = FinishReason::max_tokens;
  std::optional<std::string> stop_string;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Receives text as it becomes final; returning false cancels the generation.
using TextCallback = std::function<bool(std::string_view)>;

class Generator {
 public:
  Generator(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer);

  GenerationResult generate(const GenerationRequest& request, const TextCallback& on_text = {}) const;
  // Logits of the prompt's last position, [vocab] float32 (for parity checks and tools).
  std::vector<float> last_logits(const std::vector<int32_t>& prompt, int prefill_chunk = 512) const;
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }

 private:
  // Runs the prompt through the model in chunks; returns the last position's logits [1, 1, V].
  mlx::core::array prefill(const std::vector<int32_t>& prompt, model::KVCache& cache, int chunk) const;

  const model::Phi3Model& model_;
  const tokenizer::Tokenizer& tokenizer_;
  std::vector<int32_t> eos_ids_;
};

}  // namespace pensieve::engine
