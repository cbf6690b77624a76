#include "tokenizer/unicode.h"

#include <algorithm>

namespace pensieve::tokenizer {
namespace {

bool in_table(const CodepointRange* table, std::size_t size, char32_t cp) {
  const CodepointRange* end = table + size;
  const CodepointRange* it = std::upper_bound(
      table, end, cp, [](char32_t value, const CodepointRange& r) { return value < r.lo; });
  return it != table && cp <= (it - 1)->hi;
}

// Length of the valid UTF-8 sequence at s[pos], or 0 if the bytes there are ill-formed; for an
// ill-formed start, `maximal` receives the length of the maximal subpart (at least 1).
std::size_t valid_sequence_length(std::string_view s, std::size_t pos, std::size_t& maximal) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  maximal = 1;
  if (b0 < 0x80) return 1;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (std::size_t i = 1; i < need; ++i) {
    if (pos + i >= s.size()) return 0;
    const unsigned char b = byte(pos + i);
    const bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return 0;
    maximal = i + 1;
  }
  return need;
}

}  // namespace

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_table(unicode_tables::kLetters, unicode_tables::kLetters_size, cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_table(unicode_tables::kNumbers, unicode_tables::kNumbers_size, cp);
}

bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

Decoded decode_utf8(std::string_view s, std::size_t pos) {
  const auto b = [&](std::size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(s[pos + i])); };
  const char32_t b0 = b(0);
  if (b0 < 0x80) return {b0, 1};
  if (b0 < 0xE0 && pos + 1 < s.size()) return {((b0 & 0x1F) << 6) | (b(1) & 0x3F), 2};
  if (b0 < 0xF0 && pos + 2 < s.size())
    return {((b0 & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F), 3};
  if (pos + 3 < s.size())
    return {((b0 & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F), 4};
  return {0xFFFD, 1};  // truncated: only reachable with invalid input
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t maximal = 1;
    const std::size_t len = valid_sequence_length(bytes, pos, maximal);
    if (len > 0) {
      out.append(bytes.substr(pos, len));
      pos += len;
    } else {
      out.append(kReplacementChar);
      pos += maximal;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t maximal = 1;
    const std::size_t len = valid_sequence_length(bytes, pos, maximal);
    if (len == 0) return false;
    pos += len;
  }
  return true;
}

}  // namespace pensieve::tokenizer
