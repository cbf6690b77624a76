#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "engine/sequence.h"

namespace pensieve::engine {
namespace mx = mlx::core;
using Clock = std::chrono::steady_clock;

std::vector<int32_t> eos_ids_of(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer) {
  auto ids = tokenizer.eos_ids();
  for (int id : model.config().eos_token_ids)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

mx::array prefill(const model::Phi3Model& model, const std::vector<int32_t>& tokens, model::KVCache& cache,
                  int chunk) {
  if (tokens.empty()) throw Error("the prompt is empty: nothing to generate from");
  const int vocab = model.config().vocab_size;
  for (int32_t id : tokens)
    if (id < 0 || id >= vocab) throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary");
  chunk = std::max(1, chunk);
  const int n = static_cast<int>(tokens.size());
  for (int start = 0;; start += chunk) {
    const int len = std::min(chunk, n - start);
    mx::array ids(tokens.data() + start, {1, len}, mx::int32);
    auto logits = model.forward(ids, cache, /*last_only=*/true);
    if (start + len >= n) return logits;
    mx::eval(cache.state());
    mx::clear_cache();
  }
}

Generator::Generator(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer, int kv_bits,
                     int kv_group_size)
    : model_(model),
      tokenizer_(tokenizer),
      eos_ids_(eos_ids_of(model, tokenizer)),
      kv_bits_(kv_bits),
      kv_group_size_(kv_group_size) {
  // Rejects bits other than 0, 4 and 8 or a group not dividing head_dim now, not mid-request.
  model::KVCache::validate(kv_bits, kv_group_size, model.config().head_dim);
}

std::vector<float> Generator::last_logits(const std::vector<int32_t>& prompt, int prefill_chunk) const {
  auto cache = model_.make_cache(kv_bits_, kv_group_size_);
  cache.reserve_hint(static_cast<int>(prompt.size()));
  auto logits = mx::astype(mx::reshape(prefill(model_, prompt, cache, prefill_chunk), {-1}), mx::float32);
  mx::eval(logits);
  const float* p = logits.data<float>();
  return std::vector<float>(p, p + logits.size());
}

model::CudaDecoder* Generator::cuda_decoder() const {
  if (!cuda_tried_) {
    cuda_tried_ = true;
    cuda_ = model::CudaDecoder::create(model_);
  }
  return cuda_.get();
}

void Generator::decode_on_cuda(model::CudaDecoder& decoder, const GenerationRequest& req, Sequence& seq,
                               int32_t first, bool on_device, const std::function<void(const std::string&)>& emit) const {
  decoder.bind(seq.cache());
  int32_t id = first;
  for (int produced = 0;; ++produced) {
    // Greedy: the step for token `produced` is queued before that token is read (the step
    // queued one turn earlier produced it), and reads it from the device itself.
    if (on_device && produced + 1 < req.max_tokens) decoder.step(produced == 0 ? id : -1);
    if (on_device && produced > 0) id = decoder.next_token();
    emit(seq.accept(id));
    if (seq.finished()) break;
    if (!on_device) {
      decoder.step(id);
      auto v = decoder.logits();
      seq.constrain(v);
      id = seq.sampler().sample(v, seq.history());
    }
  }
  decoder.finish();
}

GenerationResult Generator::generate(const GenerationRequest& req, const TextCallback& on_text) const {
  return generate(req, model_.make_cache(kv_bits_, kv_group_size_), 0, on_text);
}

GenerationResult Generator::generate(const GenerationRequest& req, model::KVCache cache, int cached,
                                     const TextCallback& on_text) const {
  req.sampling.validate(static_cast<std::size_t>(model_.config().vocab_size));
  GenerationResult result;
  // Storage for the prompt and the first stretch of generation at once: no copies as a long
  // prompt fills it; growth past it stops at prompt + max_tokens.
  const int prompt_len = static_cast<int>(req.prompt.size());
  const int max_tokens = std::max(0, req.max_tokens);
  cache.reserve_hint(prompt_len + std::min(max_tokens, model::KVCache::kGenerationReserve));
  cache.limit_capacity(prompt_len + max_tokens);
  Sequence seq(req, tokenizer_, eos_ids_, std::move(cache), cached);
  if (seq.finished()) return result;

  const auto t0 = Clock::now();
  const std::vector<int32_t> rest(req.prompt.begin() + cached, req.prompt.end());
  auto logits = prefill(model_, rest, seq.cache(), req.prefill_chunk);
  const bool on_device = req.sampling.is_plain_greedy() && !seq.constrained();

  // The token for `step_logits` ([1,1,V]): lazily on the device for plain greedy, so the next
  // step can be queued before this one is read; otherwise on the host with the full sampler.
  auto choose = [&](const mx::array& step_logits) -> mx::array {
    if (on_device) return mx::astype(mx::argmax(mx::reshape(step_logits, {-1}), 0), mx::int32);
    auto host = mx::astype(mx::reshape(step_logits, {-1}), mx::float32);
    mx::eval(host);
    std::vector<float> v(host.data<float>(), host.data<float>() + host.size());
    seq.constrain(v);
    return mx::array(seq.sampler().sample(v, seq.history()), mx::int32);
  };
  bool cancelled = false;
  auto emit = [&](const std::string& text) {
    if (text.empty() || cancelled) return;
    result.text += text;
    if (on_text && !on_text(text)) {
      cancelled = true;
      seq.cancel();
    }
  };

  mx::array token = choose(logits);
  // The first token ends the prompt's time: evaluated here, so that no decode step has been
  // queued (or partly run) inside it and the decode clock covers decode steps only.
  mx::eval(token);
  result.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  model::CudaDecoder* decoder =
      !seq.finished() && model::CudaDecoder::accepts(seq.cache()) ? cuda_decoder() : nullptr;
  if (decoder) decode_on_cuda(*decoder, req, seq, token.item<int32_t>(), on_device, emit);
  for (int produced = 0; !decoder; ++produced) {
    std::optional<mx::array> next;
    if (on_device && produced + 1 < req.max_tokens) {
      next = choose(model_.forward(mx::reshape(token, {1, 1}), seq.cache()));
      mx::async_eval(*next);
    }
    const int32_t id = token.item<int32_t>();
    emit(seq.accept(id));
    if (seq.finished()) break;
    token = next ? *next : choose(model_.forward(mx::reshape(token, {1, 1}), seq.cache()));
  }
  emit(seq.flush());
  result.tokens = seq.generated();
  result.finish = seq.finish_reason();
  result.stop_string = seq.stop_string();
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - t0).count() - result.prefill_seconds;
  return result;
}

}  // namespace pensieve::engine
