#include "tokenizer/segment_cache.h"

namespace pensieve::tokenizer {

std::string SegmentCache::key_of(std::string_view text, bool at_start) {
  std::string key;
  key.reserve(text.size() + 1);
  key.push_back(at_start ? '\1' : '\0');
  key.append(text);
  return key;
}

bool SegmentCache::lookup(std::string_view text, bool at_start, std::vector<std::int32_t>& out) {
  if (text.size() < kMinBytes) return false;
  const std::string key = key_of(text, at_start);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return false;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  out.insert(out.end(), it->second->ids.begin(), it->second->ids.end());
  return true;
}

void SegmentCache::store(std::string_view text, bool at_start, std::span<const std::int32_t> ids) {
  if (text.size() < kMinBytes) return;
  Entry entry{key_of(text, at_start), std::vector<std::int32_t>(ids.begin(), ids.end())};
  if (entry.bytes() > budget_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (index_.count(entry.key)) return;  // another request stored it meanwhile
  bytes_ += entry.bytes();
  lru_.push_front(std::move(entry));
  index_.emplace(lru_.front().key, lru_.begin());
  while (bytes_ > budget_) {
    const Entry& last = lru_.back();
    bytes_ -= last.bytes();
    index_.erase(last.key);
    lru_.pop_back();
  }
}

void SegmentCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

SegmentCache::Stats SegmentCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {hits_, misses_, lru_.size(), bytes_};
}

}  // namespace pensieve::tokenizer
