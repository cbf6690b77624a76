#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

const std::string* Tokenizer::Impl::token_string(TokenId id) const {
  if (const auto it = added_by_id.find(id); it != added_by_id.end()) return &added[it->second].content;
  return model->id_to_token(id);
}

std::string Tokenizer::Impl::decode_tokens(std::vector<std::string> tokens) const {
  if (!decoder) {  // `tokenizers` joins with spaces when there is no decoder
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

// Normalized-token matching, pre-tokenization and the model, for text between raw added tokens.
void Tokenizer::Impl::encode_text(std::string_view raw, bool at_input_start,
                                  std::vector<TokenId>& out) const {
  std::string text(raw);
  if (normalizer) normalizer->normalize(text);
  for (const TextPiece& piece : normalized_matcher.split(text, added)) {
    if (piece.token_id >= 0) {
      out.push_back(piece.token_id);
      continue;
    }
    if (piece.begin == piece.end) continue;
    std::vector<Word> words{{text.substr(piece.begin, piece.end - piece.begin),
                             at_input_start && piece.begin == 0}};
    if (pre_tokenizer) pre_tokenizer->pre_tokenize(words);
    for (const Word& w : words) model->encode_word(w.text, out);
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view input, bool add_bos) const {
  // `tokenizers` only ever sees valid Unicode; ill-formed bytes become U+FFFD first.
  std::string sanitized;
  if (!is_valid_utf8(input)) {
    sanitized = utf8_lossy(input);
    input = sanitized;
  }
  std::vector<TokenId> ids;
  ids.reserve(input.size() / 3 + 4);
  const SingleTemplate& tpl = impl_->post_template;
  if (add_bos) {
    if (tpl.present) ids.insert(ids.end(), tpl.before.begin(), tpl.before.end());
    else if (const auto bos = bos_id()) ids.push_back(*bos);
  }
  for (const TextPiece& piece : impl_->raw_matcher.split(input, impl_->added)) {
    if (piece.token_id >= 0) {
      ids.push_back(piece.token_id);
    } else if (piece.begin < piece.end) {
      const std::string_view text = input.substr(piece.begin, piece.end - piece.begin);
      const bool at_start = piece.begin == 0;
      if (impl_->segment_cache.lookup(text, at_start, ids)) continue;
      const std::size_t before = ids.size();
      impl_->encode_text(text, at_start, ids);
      impl_->segment_cache.store(text, at_start, std::span<const TokenId>(ids).subspan(before));
    }
  }
  if (add_bos && tpl.present) ids.insert(ids.end(), tpl.after.begin(), tpl.after.end());
  return ids;
}

Tokenizer::CacheStats Tokenizer::segment_cache_stats() const {
  const auto s = impl_->segment_cache.stats();
  return {s.hits, s.misses, s.entries, s.bytes};
}

void Tokenizer::clear_segment_cache() const { impl_->segment_cache.clear(); }

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (TokenId id : ids) {
    const std::string* t = impl_->token_string(id);
    if (t && !impl_->skipped(*t, skip_special)) tokens.push_back(*t);
  }
  return impl_->decode_tokens(std::move(tokens));
}

std::string Tokenizer::token_bytes(TokenId id) const {
  const std::string* t = impl_->token_string(id);
  if (!t) return {};
  std::string bytes = *t;
  if (!impl_->added_by_id.count(id) && impl_->decoder) impl_->decoder->raw_bytes(bytes);
  return bytes;
}

std::optional<TokenId> Tokenizer::bos_id() const {
  if (!impl_->bos_token) return std::nullopt;
  return token_to_id(*impl_->bos_token);
}
std::optional<std::string> Tokenizer::bos_token() const { return impl_->bos_token; }
std::optional<std::string> Tokenizer::eos_token() const { return impl_->eos_token; }

std::vector<TokenId> Tokenizer::eos_ids() const {
  std::vector<TokenId> ids;
  if (impl_->eos_token) {
    if (const auto id = token_to_id(*impl_->eos_token)) ids.push_back(*id);
  }
  for (TokenId id : impl_->extra_eos_ids) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

bool Tokenizer::adds_bos_by_default() const {
  if (impl_->add_bos_token) return *impl_->add_bos_token;
  return !impl_->post_template.before.empty();
}

std::size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto it = impl_->added_ids.find(std::string(token)); it != impl_->added_ids.end()) {
    return it->second;
  }
  return impl_->model->token_to_id(token);
}

bool Tokenizer::is_special(TokenId id) const {
  const auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

const std::optional<std::string>& Tokenizer::chat_template() const { return impl_->chat_template; }

StreamDecoder Tokenizer::stream_decoder(bool skip_special) const {
  return StreamDecoder(*this, skip_special);
}

}  // namespace pensieve::tokenizer
