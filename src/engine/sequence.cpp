#include "engine/sequence.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace pensieve::engine {

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::eos: return "eos";
    case FinishReason::max_tokens: return "max_tokens";
    case FinishReason::stop_string: return "stop_string";
    case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

Sequence::Sequence(GenerationRequest request, const tokenizer::Tokenizer& tokenizer,
                   const std::vector<int32_t>& eos_ids, model::KVCache cache, int cached)
    : request_(std::move(request)),
      eos_ids_(eos_ids),
      cache_(std::move(cache)),
      cached_(cached),
      prefilled_(cached),
      sampler_(request_.sampling),
      stops_(request_.stop),
      decoder_(tokenizer.stream_decoder()),
      history_(request_.prompt) {
  if (request_.prompt.empty()) throw Error("the prompt is empty: nothing to generate from");
  if (cached_ < 0 || cached_ >= static_cast<int>(request_.prompt.size()) || cache_.offset() != cached_)
    throw Error("internal: cached prefix does not fit the prompt");
  if (request_.max_tokens <= 0) finish_ = FinishReason::max_tokens;
  if (request_.constraint) constraint_ = request_.constraint->make();
}

void Sequence::constrain(std::span<float> logits) {
  if (!constraint_ || !constraint_->allowed_tokens(mask_)) return;
  bool any = false;
  for (std::size_t t = 0; t < logits.size(); ++t) {
    if (grammar::mask_allows(mask_, static_cast<int32_t>(t))) any = any || logits[t] > -INFINITY;
    else logits[t] = -INFINITY;
  }
  if (!any) throw Error("the output grammar allows no token here");
}

std::vector<int32_t> Sequence::take_prefill_chunk(int max_len) {
  const int n = static_cast<int>(request_.prompt.size());
  const int len = std::min(std::max(1, max_len), n - prefilled_);
  std::vector<int32_t> chunk(request_.prompt.begin() + prefilled_, request_.prompt.begin() + prefilled_ + len);
  prefilled_ += len;
  return chunk;
}

std::string Sequence::accept(int32_t id) {
  if (finished()) return {};
  if (!request_.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end()) {
    finish_ = FinishReason::eos;
    return {};
  }
  if (constraint_) {
    constraint_->accept(id);
    // A complete grammar (a closed JSON value, the last tool call) ends the output.
    if (constraint_->finished()) finish_ = FinishReason::eos;
  }
  generated_.push_back(id);
  history_.push_back(id);
  std::string text = stops_.push(decoder_.push(id));
  if (stops_.stopped()) finish_ = FinishReason::stop_string;
  else if (!finish_ && static_cast<int>(generated_.size()) >= request_.max_tokens) finish_ = FinishReason::max_tokens;
  return text;
}

std::string Sequence::flush() {
  if (finish_ == FinishReason::stop_string || finish_ == FinishReason::cancelled) return {};
  std::string tail = stops_.push(decoder_.flush());
  if (stops_.stopped()) {
    finish_ = FinishReason::stop_string;
    return tail;
  }
  return tail + stops_.flush();
}

}  // namespace pensieve::engine
