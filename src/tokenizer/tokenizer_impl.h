#pragma once
// The parts a loaded tokenizer is made of (private to the tokenizer module).
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/segment_cache.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::tokenizer {

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  SingleTemplate post_template;

  std::vector<AddedToken> added;                   // in tokenizer.json order
  std::unordered_map<std::string, int32_t> added_ids;  // content → id
  std::unordered_map<int32_t, std::size_t> added_by_id;  // id → index in `added`
  std::unordered_set<std::string> special_contents;
  AddedTokenMatcher raw_matcher;         // tokens with normalized = false, on the input
  AddedTokenMatcher normalized_matcher;  // tokens with normalized = true, on normalized text
  std::size_t vocab_size = 0;

  std::optional<std::string> bos_token, eos_token;
  std::vector<TokenId> extra_eos_ids;  // generation_config.json eos_token_id
  std::optional<bool> add_bos_token;   // tokenizer_config.json
  std::optional<std::string> chat_template;
  mutable SegmentCache segment_cache;  // encode() is const and may run on several threads

  // The string of an id as decode sees it, nullptr for an unknown id.
  const std::string* token_string(TokenId id) const;
  bool skipped(const std::string& token, bool skip_special) const {
    return skip_special && special_contents.count(token) > 0;
  }
  std::string decode_tokens(std::vector<std::string> tokens) const;
  void encode_text(std::string_view text, bool at_input_start, std::vector<TokenId>& out) const;
};

}  // namespace pensieve::tokenizer
