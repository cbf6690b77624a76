#pragma once
// The few Unicode operations Python strings give chat templates: code point indexing, whitespace
// (str.isspace), case mapping and printability (repr). Case mapping covers the common alphabets
// (Latin, Greek, Cyrillic, Armenian, full-width Latin); other scripts are left unchanged.
#include <string>
#include <string_view>

#include "tokenizer/unicode.h"

namespace pensieve::tokenizer::jinja {

// Invalid UTF-8 bytes decode as U+FFFD, so every input has a decoding.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
inline void utf8_append(std::string& out, char32_t cp) { append_utf8(out, cp); }
bool utf8_valid(std::string_view s);
std::size_t utf8_length(std::string_view s);  // in code points

bool is_space(char32_t c);      // Python str.isspace
bool is_printable(char32_t c);  // Python str.isprintable, approximately (for repr)
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string strip(std::string_view s, bool left, bool right, const std::u32string* chars = nullptr);

}  // namespace pensieve::tokenizer::jinja
