#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"

namespace pensieve::engine {
namespace mx = mlx::core;
using Clock = std::chrono::steady_clock;

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::eos: return "eos";
    case FinishReason::max_tokens: return "max_tokens";
    case FinishReason::stop_string: return "stop_string";
    case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

Generator::Generator(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer)
    : model_(model), tokenizer_(tokenizer) {
  eos_ids_ = tokenizer.eos_ids();
  for (int id : model.config().eos_token_ids)
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
}

mx::array Generator::prefill(const std::vector<int32_t>& prompt, model::KVCache& cache, int chunk) const {
  if (prompt.empty()) throw Error("the prompt is empty: nothing to generate from");
  const int vocab = model_.config().vocab_size;
  for (int32_t id : prompt)
    if (id < 0 || id >= vocab) throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary");
  chunk = std::max(1, chunk);
  const int n = static_cast<int>(prompt.size());
  for (int start = 0;; start += chunk) {
    const int len = std::min(chunk, n - start);
    mx::array tokens(prompt.data() + start, {1, len}, mx::int32);
    auto logits = model_.forward(tokens, cache, /*last_only=*/true);
    if (start + len >= n) return logits;
    // Evaluate this chunk's keys/values now so the graph (and memory) stays one chunk deep.
    mx::eval(cache.state());
    mx::clear_cache();
  }
}

std::vector<float> Generator::last_logits(const std::vector<int32_t>& prompt, int prefill_chunk) const {
  auto cache = model_.make_cache();
  auto logits = mx::astype(mx::reshape(prefill(prompt, cache, prefill_chunk), {-1}), mx::float32);
  mx::eval(logits);
  const float* p = logits.data<float>();
  return std::vector<float>(p, p + logits.size());
}

GenerationResult Generator::generate(const GenerationRequest& req, const TextCallback& on_text) const {
  req.sampling.validate();
  GenerationResult result;
  if (req.max_tokens <= 0) return result;
  auto cache = model_.make_cache();
  sampling::Sampler sampler(req.sampling);
  sampling::StopStringMatcher stops(req.stop);
  auto decoder = tokenizer_.stream_decoder();
  std::vector<int32_t> history = req.prompt;

  const auto t0 = Clock::now();
  auto logits = prefill(req.prompt, cache, req.prefill_chunk);
  const bool on_device = req.sampling.is_plain_greedy();

  // Picks the token for `logits` ([1,1,V]): lazily on the device for plain greedy, so the next
  // step can be queued before this one is read; otherwise on the host with the full sampler.
  auto choose = [&](const mx::array& step_logits) -> mx::array {
    if (on_device) return mx::astype(mx::argmax(mx::reshape(step_logits, {-1}), 0), mx::int32);
    auto host = mx::astype(mx::reshape(step_logits, {-1}), mx::float32);
    mx::eval(host);
    std::vector<float> v(host.data<float>(), host.data<float>() + host.size());
    return mx::array(sampler.sample(v, history), mx::int32);
  };
  auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    result.text += text;
    return on_text ? on_text(text) : true;
  };

  mx::array token = choose(logits);
  mx::async_eval(token);
  bool first = true;
  for (int produced = 0;; ++produced) {
    std::optional<mx::array> next;
    if (on_device && produced + 1 < req.max_tokens) {
      next = choose(model_.forward(mx::reshape(token, {1, 1}), cache));
      mx::async_eval(*next);
    }
    const int32_t id = token.item<int32_t>();
    if (first) {
      result.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      first = false;
    }
    if (!req.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end()) {
      result.finish = FinishReason::eos;
      break;
    }
    result.tokens.push_back(id);
    history.push_back(id);
    if (!emit(stops.push(decoder.push(id)))) {
      result.finish = FinishReason::cancelled;
      break;
    }
    if (stops.stopped()) {
      result.finish = FinishReason::stop_string;
      result.stop_string = stops.matched();
      break;
    }
    if (produced + 1 >= req.max_tokens) {
      result.finish = FinishReason::max_tokens;
      break;
    }
    token = next ? *next : choose(model_.forward(mx::reshape(token, {1, 1}), cache));
  }
  if (result.finish != FinishReason::stop_string && result.finish != FinishReason::cancelled) {
    std::string tail = stops.push(decoder.flush());
    if (!stops.stopped()) tail += stops.flush();
    else {
      result.finish = FinishReason::stop_string;
      result.stop_string = stops.matched();
    }
    emit(tail);
  }
  result.decode_seconds =
      std::chrono::duration<double>(Clock::now() - t0).count() - result.prefill_seconds;
  return result;
}

}  // namespace pensieve::engine
