#include "engine/prefix_cache.h"

#include <algorithm>

namespace pensieve::engine {

namespace {
std::size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<std::size_t>(ia - a.begin());
}
}  // namespace

std::optional<PrefixCache::Hit> PrefixCache::lookup(const std::vector<int32_t>& prompt) {
  auto best = entries_.end();
  std::size_t best_len = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    std::size_t len = std::min(common_prefix(it->tokens, prompt), prompt.size() - 1);
    if (len > best_len) {
      best_len = len;
      best = it;
    }
  }
  if (best == entries_.end() || static_cast<int>(best_len) < min_match_) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, best);  // now most recently used
  model::KVCache copy = best->cache;                   // arrays are shared, never written in place
  copy.trim(copy.offset() - static_cast<int>(best_len));
  return Hit{std::move(copy), static_cast<int>(best_len)};
}

void PrefixCache::insert(std::vector<int32_t> tokens, model::KVCache cache) {
  if (budget_ == 0 || static_cast<int>(tokens.size()) < min_match_) return;
  // An entry that is a prefix of the new one adds nothing once the new one is stored.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->tokens.size() <= tokens.size() && common_prefix(it->tokens, tokens) == it->tokens.size()) {
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  const std::size_t size = cache.nbytes();
  if (size > budget_) return;
  evict_to(budget_ - size);
  entries_.push_front(Entry{std::move(tokens), std::move(cache), size});
  bytes_ += size;
}

void PrefixCache::set_budget(std::size_t budget_bytes) {
  budget_ = budget_bytes;
  evict_to(budget_);
}

void PrefixCache::evict_to(std::size_t budget) {
  while (bytes_ > budget && !entries_.empty()) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
}

}  // namespace pensieve::engine
