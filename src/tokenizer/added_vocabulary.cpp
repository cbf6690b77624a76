#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {
namespace {

// Rust's char::is_alphanumeric || '_', the "word character" of single_word, approximated by
// the letter and number classes.
bool is_word_char(char32_t c) { return c == '_' || is_letter(c) || is_number(c); }

char32_t last_char(std::string_view s) {
  std::size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return decode_utf8(s, start).cp;
}

}  // namespace

int32_t AddedTokenMatcher::child(int32_t node, unsigned char byte) const {
  const auto& kids = nodes_[static_cast<std::size_t>(node)].children;
  const auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(byte, int32_t{-1}));
  return it != kids.end() && it->first == byte ? it->second : -1;
}

void AddedTokenMatcher::add(const std::string& pattern, std::size_t token_index) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (unsigned char c : pattern) {
    int32_t next = child(node, c);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      auto& kids = nodes_[static_cast<std::size_t>(node)].children;
      kids.insert(std::lower_bound(kids.begin(), kids.end(), std::make_pair(c, int32_t{-1})),
                  std::make_pair(c, next));
    }
    node = next;
  }
  // The first token registered for a content wins, as in `tokenizers`.
  if (nodes_[static_cast<std::size_t>(node)].token_index < 0) {
    nodes_[static_cast<std::size_t>(node)].token_index = static_cast<int32_t>(token_index);
  }
}

std::vector<TextPiece> AddedTokenMatcher::split(std::string_view text,
                                                const std::vector<AddedToken>& tokens) const {
  std::vector<TextPiece> out;
  std::size_t emitted = 0;  // end of the last piece pushed
  std::size_t pos = 0;
  while (pos < text.size() && !empty()) {
    // Longest token starting at pos.
    int32_t node = 0, found = -1;
    std::size_t found_end = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      if (nodes_[static_cast<std::size_t>(node)].token_index >= 0) {
        found = nodes_[static_cast<std::size_t>(node)].token_index;
        found_end = i + 1;
      }
    }
    if (found < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens[static_cast<std::size_t>(found)];
    std::size_t start = pos, stop = found_end;
    pos = found_end;  // matches never overlap; the next search starts after this one
    if (token.single_word) {
      const bool space_before = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      const bool space_after = stop == text.size() || !is_word_char(decode_utf8(text, stop).cp);
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) {
      std::size_t s = start;
      while (s > 0) {
        std::size_t c = s - 1;
        while (c > 0 && (static_cast<unsigned char>(text[c]) & 0xC0) == 0x80) --c;
        if (!is_whitespace(decode_utf8(text, c).cp)) break;
        s = c;
      }
      start = std::max(s, emitted);  // spaces a previous token already took stay with it
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        const Decoded d = decode_utf8(text, stop);
        if (!is_whitespace(d.cp)) break;
        stop += d.len;
      }
    }
    if (emitted < start) out.push_back({-1, emitted, start});
    out.push_back({token.id, start, stop});
    emitted = stop;
  }
  if (emitted < text.size()) out.push_back({-1, emitted, text.size()});
  return out;
}

}  // namespace pensieve::tokenizer
