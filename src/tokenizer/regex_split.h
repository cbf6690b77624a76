#pragma once
// The pre-tokenizer regexes of the byte-level tokenizers, matched by hand (no regex engine at
// run time): each function returns the [begin, end) byte ranges of the successive matches, which
// together cover the whole text (every character starts some alternative).
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace pensieve::tokenizer {

using ByteRange = std::pair<std::size_t, std::size_t>;

enum class SplitPattern {
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,  // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|...
  kQwen2,   // as kLlama3 with \p{N} one digit at a time
};

// Which known pattern a tokenizer.json regex is, if any.
std::optional<SplitPattern> recognise_split_pattern(std::string_view regex);

std::vector<ByteRange> regex_split(std::string_view text, SplitPattern pattern);

}  // namespace pensieve::tokenizer
