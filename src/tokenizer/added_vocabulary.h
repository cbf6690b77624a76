#pragma once
// Added tokens (tokenizer.json "added_tokens"): found in the text before the model runs, as
// `tokenizers` does, leftmost-longest, with their lstrip/rstrip/single_word flags; those marked
// "normalized" are looked for in the normalized text instead of the raw input.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pensieve::tokenizer {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

// A piece of text: either an added token (id >= 0) or plain text to go through the model.
struct TextPiece {
  int32_t token_id = -1;
  std::size_t begin = 0, end = 0;  // byte range in the text that was split
};

// Leftmost-longest matcher over a fixed set of added tokens.
class AddedTokenMatcher {
 public:
  void add(const std::string& pattern, std::size_t token_index);
  // Splits text at matches, applying each token's flags; empty ranges are left out.
  std::vector<TextPiece> split(std::string_view text, const std::vector<AddedToken>& tokens) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token_index = -1;
  };
  int32_t child(int32_t node, unsigned char byte) const;
  std::vector<Node> nodes_{Node{}};
};

}  // namespace pensieve::tokenizer
