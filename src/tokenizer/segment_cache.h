#pragma once
// Tokens of recently encoded long text segments (the text between special tokens). A chat
// client sends its whole conversation with every request — Claude Code a system prompt and tool
// list of tens of kilobytes each time — and the segments it has sent before need not be encoded
// again. Exact: a segment's tokens depend only on its text and on whether it starts the input.
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pensieve::tokenizer {

class SegmentCache {
 public:
  // Shorter segments encode in microseconds: not worth an entry.
  static constexpr std::size_t kMinBytes = 256;

  struct Stats {
    std::uint64_t hits = 0, misses = 0;
    std::size_t entries = 0, bytes = 0;
  };

  explicit SegmentCache(std::size_t budget_bytes = std::size_t{16} << 20) : budget_(budget_bytes) {}

  // Appends the cached tokens of (text, at_start) to `out`; false when not cached (or too short).
  bool lookup(std::string_view text, bool at_start, std::vector<std::int32_t>& out);
  // Keeps `ids` as the tokens of (text, at_start), evicting the least recently used entries past
  // the budget (key text plus tokens). Short segments and ones larger than the budget are not kept.
  void store(std::string_view text, bool at_start, std::span<const std::int32_t> ids);
  void clear();
  Stats stats() const;

 private:
  struct Entry {
    std::string key;  // at_start flag byte, then the text
    std::vector<std::int32_t> ids;
    std::size_t bytes() const { return key.size() + ids.size() * sizeof(std::int32_t); }
  };
  static std::string key_of(std::string_view text, bool at_start);

  const std::size_t budget_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views into lru_ keys
  std::size_t bytes_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace pensieve::tokenizer
