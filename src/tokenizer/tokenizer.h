#pragma once
// Text ⇄ token ids, identical to Hugging Face `tokenizers` for the models Pensieve serves.
// Loads a model directory's tokenizer.json with tokenizer_config.json, special_tokens_map.json,
// added_tokens.json and generation_config.json where present. No Python at run time.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pensieve::tokenizer {

using TokenId = int32_t;

class StreamDecoder;

class Tokenizer {
 public:
  // Reads the tokenizer files of a model directory; throws pensieve::Error naming the file and
  // the problem (missing file, malformed JSON, unsupported component such as a Unigram model).
  static Tokenizer from_directory(const std::filesystem::path& dir);

  // Added/special tokens in the text are matched first (with their lstrip/rstrip/normalized
  // flags), the rest goes through the model. `add_bos` prepends BOS when the tokenizer has one.
  std::vector<TokenId> encode(std::string_view text, bool add_bos) const;
  // As Hugging Face `decode`: special tokens are kept unless skip_special.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  std::optional<TokenId> bos_id() const;
  std::optional<std::string> bos_token() const;
  std::optional<std::string> eos_token() const;
  // Every id that ends generation: the tokenizer's EOS plus generation_config.json eos_token_id
  // (an int or a list). Phi-3: <|endoftext|>, <|end|> (and <|assistant|> as the real file says).
  std::vector<TokenId> eos_ids() const;
  // Whether tokenizer_config.json asks for BOS on encode (add_bos_token; absent → model default).
  bool adds_bos_by_default() const;
  std::size_t vocab_size() const;  // including added tokens
  std::optional<TokenId> token_to_id(std::string_view token) const;
  bool is_special(TokenId id) const;
  // The bytes token `id` adds in the middle of a text (byte-fallback tokens as their byte, "▁" as
  // a space); added tokens as their content. Empty for an unknown id. For constrained decoding.
  std::string token_bytes(TokenId id) const;
  // chat_template of tokenizer_config.json (a string, or the "default" of a named list).
  const std::optional<std::string>& chat_template() const;

  StreamDecoder stream_decoder(bool skip_special = false) const;

  // encode() keeps the tokens of long text segments (between special tokens) it has encoded
  // recently (segment_cache.h): these say how that went, and clearing forgets them (benchmarks).
  struct CacheStats {
    std::uint64_t hits = 0, misses = 0;
    std::size_t entries = 0, bytes = 0;
  };
  CacheStats segment_cache_stats() const;
  void clear_segment_cache() const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class StreamDecoder;
};

// Turns ids into text one at a time while generating: `push` returns the text that became
// final with this id (possibly empty: a UTF-8 character or byte-fallback sequence still open),
// `flush` whatever is left at the end. The concatenation of all outputs equals decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(TokenId id);
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  // A window of the ids pushed so far (skipped special tokens left out): ids_[0, window_start_)
  // were returned already and stay only as context, so that the decoder sees each new token as
  // it would mid-sequence (SentencePiece strips a leading space only at the very start).
  std::vector<TokenId> ids_;
  std::size_t window_start_ = 0;
  std::string prefix_text_;  // decode(ids_[0, window_start_)), already returned
};

}  // namespace pensieve::tokenizer
