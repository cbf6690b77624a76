#pragma once
// KV caches of finished sequences kept for reuse: a new prompt that shares a prefix with one of
// them starts from a copy of that cache trimmed to the shared part (multi-turn chat, a fixed
// system prompt and tool list). Least recently used entries go first when over the byte budget.
#include <cstdint>
#include <list>
#include <optional>
#include <vector>

#include "model/kv_cache.h"

namespace pensieve::engine {

class PrefixCache {
 public:
  explicit PrefixCache(std::size_t budget_bytes, int min_match = 16)
      : budget_(budget_bytes), min_match_(min_match) {}

  struct Hit {
    model::KVCache cache;  // holds exactly `tokens` positions
    int tokens;
  };
  // The longest stored prefix of `prompt`, leaving at least one prompt token to run (its logits
  // are needed); nothing if shorter than min_match.
  std::optional<Hit> lookup(const std::vector<int32_t>& prompt);
  // Stores a cache whose positions hold `tokens` (tokens.size() == cache.offset()).
  void insert(std::vector<int32_t> tokens, model::KVCache cache);

  std::size_t bytes() const { return bytes_; }
  std::size_t entries() const { return entries_.size(); }
  void set_budget(std::size_t budget_bytes);

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    model::KVCache cache;
    std::size_t bytes;
  };
  void evict_to(std::size_t budget);

  std::list<Entry> entries_;  // most recently used first
  std::size_t budget_;
  int min_match_;
  std::size_t bytes_ = 0;
};

}  // namespace pensieve::engine
