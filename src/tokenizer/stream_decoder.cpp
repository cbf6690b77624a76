// StreamDecoder: incremental decode. The text of the ids pushed since the last output is final
// once the last token cannot join with what follows (a byte-fallback token can) and the decoded
// window does not end in U+FFFD (an unfinished UTF-8 sequence of byte-level tokens).
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(TokenId id) {
  const Tokenizer::Impl& impl = *tokenizer_->impl_;
  const std::string* token = impl.token_string(id);
  if (!token || impl.skipped(*token, skip_special_)) return {};  // decode drops these too
  ids_.push_back(id);
  if (impl.decoder && impl.decoder->token_may_join_next(*token)) return {};
  std::string text = tokenizer_->decode(ids_, false);
  if (ends_with(text, kReplacementChar)) return {};
  if (text.compare(0, prefix_text_.size(), prefix_text_) != 0) return {};  // wait for more
  std::string out = text.substr(prefix_text_.size());
  // The ids just returned become the context of the next ones.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(window_start_));
  window_start_ = ids_.size();
  prefix_text_ = tokenizer_->decode(ids_, false);
  return out;
}

std::string StreamDecoder::flush() {
  std::string text = tokenizer_->decode(ids_, false);
  std::string out = text.compare(0, prefix_text_.size(), prefix_text_) == 0
                        ? text.substr(prefix_text_.size())
                        : text;
  ids_.clear();
  window_start_ = 0;
  prefix_text_.clear();
  return out;
}

}  // namespace pensieve::tokenizer
