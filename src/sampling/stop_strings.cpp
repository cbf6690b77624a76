// StopStringMatcher. Which stop wins when several occur: the one that is complete earliest in
// the text (smallest end), then the longest of those (earliest start). That is the rule a
// token-by-token check would follow, so the result depends only on the text, never on how it
// was cut into pushes.
//
// Bytes, not characters: the caller pushes whole UTF-8 characters, so every cut lands on a
// character boundary. A cut is either where a stop string starts in the text or where a held-back
// suffix starts; both begin with the first byte of a stop string, which in valid UTF-8 is a lead
// byte, and a lead byte inside valid text always starts a character.
#include <algorithm>
#include <utility>

#include "sampling/sampler.h"

namespace pensieve::sampling {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (std::string& stop : stops) {
    if (stop.empty()) continue;  // would match everywhere: treated as absent
    max_len_ = std::max(max_len_, stop.size());
    stops_.push_back(std::move(stop));
  }
}

std::string StopStringMatcher::push(std::string_view text) {
  if (stopped()) return {};
  pending_.append(text);

  // Everything released so far held no possible match start, so a match lies in pending_.
  std::size_t best_start = std::string::npos;
  std::size_t best_end = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& stop : stops_) {
    const std::size_t start = pending_.find(stop);
    if (start == std::string::npos) continue;
    const std::size_t end = start + stop.size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_start = start;
      best_end = end;
      best = &stop;
    }
  }
  if (best != nullptr) {
    matched_ = *best;
    std::string before = pending_.substr(0, best_start);
    pending_.clear();
    return before;
  }

  // Hold back the longest suffix that some stop string starts with; no stop is complete in
  // pending_, so such a suffix is shorter than max_len_.
  std::size_t hold = 0;
  const std::size_t longest = std::min(pending_.size(), max_len_ == 0 ? 0 : max_len_ - 1);
  for (std::size_t len = longest; len > 0 && hold == 0; --len) {
    const std::string_view suffix = std::string_view(pending_).substr(pending_.size() - len);
    for (const std::string& stop : stops_) {
      if (stop.size() > len && std::string_view(stop).substr(0, len) == suffix) {
        hold = len;
        break;
      }
    }
  }
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StopStringMatcher::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;  // empty after a stop: push cleared it
}

}  // namespace pensieve::sampling
