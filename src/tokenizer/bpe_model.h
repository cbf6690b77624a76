#pragma once
// tokenizer.json "model" of type BPE: vocabulary, ranked merges, byte fallback, unknown-token
// fusion and ignore_merges, applied word by word with a cache of recent words.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pensieve::tokenizer {

class BpeModel {
 public:
  explicit BpeModel(const nlohmann::json& spec);  // throws pensieve::Error when unsupported

  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when the id is not in the vocab
  std::size_t vocab_size() const { return vocab_.size(); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // neighbours in the word, -1 at the ends
    uint32_t len;        // bytes covered; 0 once merged into its left neighbour
  };
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  void merge_all(std::vector<Symbol>& symbols) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<const std::string*> id_to_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::vector<int32_t> byte_ids_;  // <0xXX> ids for byte fallback, -1 where missing
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;

  static constexpr std::size_t kCacheableWordBytes = 256;
  static constexpr std::size_t kCacheCapacity = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace pensieve::tokenizer
