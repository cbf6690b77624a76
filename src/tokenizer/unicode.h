#pragma once
// UTF-8 and the few Unicode properties the tokenizer needs (letters, numbers, white space), as
// Hugging Face `tokenizers` sees them through its regexes and Rust's char methods.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pensieve::tokenizer {

struct CodepointRange {
  char32_t lo;
  char32_t hi;
};

namespace unicode_tables {
extern const CodepointRange kLetters[];
extern const std::size_t kLetters_size;
extern const CodepointRange kNumbers[];
extern const std::size_t kNumbers_size;
}  // namespace unicode_tables

bool is_letter(char32_t cp);      // \p{L}
bool is_number(char32_t cp);      // \p{N}
bool is_whitespace(char32_t cp);  // \s: the White_Space property (Rust's char::is_whitespace)

// Length of the UTF-8 sequence starting at s[pos] and its code point. Expects valid UTF-8 (the
// tokenizer makes its input valid first).
struct Decoded {
  char32_t cp;
  std::size_t len;
};
Decoded decode_utf8(std::string_view s, std::size_t pos);
void append_utf8(std::string& out, char32_t cp);

// `bytes` with every ill-formed part replaced by U+FFFD, one per maximal subpart as Rust's
// String::from_utf8_lossy does (the ByteLevel decoder and invalid input both go through this).
std::string utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

}  // namespace pensieve::tokenizer
