#include "tokenizer/regex_split.h"

#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {
namespace {

constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The text decoded once into code points with their byte offsets, so the matchers can look
// ahead freely.
struct CodepointText {
  std::vector<char32_t> cps;
  std::vector<std::size_t> offsets;  // offsets[i] = byte offset of cps[i]; one extra at the end

  explicit CodepointText(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
      const Decoded d = decode_utf8(text, pos);
      cps.push_back(d.cp);
      offsets.push_back(pos);
      pos += d.len;
    }
    offsets.push_back(text.size());
  }
  std::size_t size() const { return cps.size(); }
};

bool is_other(char32_t c) { return !is_whitespace(c) && !is_letter(c) && !is_number(c); }
bool is_crlf(char32_t c) { return c == '\r' || c == '\n'; }

// End of the run of code points from i satisfying pred.
template <typename Pred>
std::size_t run_end(const CodepointText& t, std::size_t i, Pred pred) {
  while (i < t.size() && pred(t.cps[i])) ++i;
  return i;
}

// Contractions 's 't 're 've 'm 'll 'd at i; case-insensitive for the Llama-3 family, where
// Unicode case folding also lets the long s (U+017F) stand for 's'.
std::size_t match_contraction(const CodepointText& t, std::size_t i, bool ignore_case) {
  if (t.cps[i] != '\'' || i + 1 >= t.size()) return 0;
  auto lower = [&](std::size_t k) -> char32_t {
    if (k >= t.size()) return 0;
    char32_t c = t.cps[k];
    if (!ignore_case) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c;
  };
  const char32_t c1 = lower(i + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
  const char32_t c2 = lower(i + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
    return i + 3;
  }
  return 0;
}

// \s+(?!\S) then \s+, at a white-space code point i: a run of white space, less its last
// character when a non-space follows and the run is longer than one.
std::size_t match_trailing_whitespace(const CodepointText& t, std::size_t i) {
  const std::size_t end = run_end(t, i, is_whitespace);
  if (end == t.size() || end - i == 1) return end;
  return end - 1;
}

std::size_t next_gpt2(const CodepointText& t, std::size_t i) {
  if (std::size_t e = match_contraction(t, i, false)) return e;
  const char32_t c = t.cps[i];
  const std::size_t j = (c == ' ' && i + 1 < t.size()) ? i + 1 : i;  // the optional space
  const char32_t d = t.cps[j];
  if (is_letter(d)) return run_end(t, j, is_letter);
  if (is_number(d)) return run_end(t, j, is_number);
  if (is_other(d)) return run_end(t, j, is_other);
  return match_trailing_whitespace(t, i);
}

std::size_t next_llama3(const CodepointText& t, std::size_t i, std::size_t max_digits) {
  if (std::size_t e = match_contraction(t, i, true)) return e;
  const char32_t c = t.cps[i];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_letter(c)) return run_end(t, i, is_letter);
  if (!is_crlf(c) && !is_number(c) && i + 1 < t.size() && is_letter(t.cps[i + 1])) {
    return run_end(t, i + 1, is_letter);
  }
  // \p{N}{1,3}
  if (is_number(c)) {
    std::size_t e = i;
    while (e < t.size() && e - i < max_digits && is_number(t.cps[e])) ++e;
    return e;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const std::size_t j = (c == ' ' && i + 1 < t.size() && is_other(t.cps[i + 1])) ? i + 1 : i;
  if (is_other(t.cps[j])) {
    return run_end(t, run_end(t, j, is_other), is_crlf);
  }
  // \s*[\r\n]+ : the white-space run up to and including its last line break.
  const std::size_t ws_end = run_end(t, i, is_whitespace);
  for (std::size_t k = ws_end; k > i; --k) {
    if (is_crlf(t.cps[k - 1])) return k;
  }
  return match_trailing_whitespace(t, i);
}

}  // namespace

std::optional<SplitPattern> recognise_split_pattern(std::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::vector<ByteRange> regex_split(std::string_view text, SplitPattern pattern) {
  const CodepointText t(text);
  std::vector<ByteRange> out;
  for (std::size_t i = 0; i < t.size();) {
    std::size_t end;
    switch (pattern) {
      case SplitPattern::kGpt2: end = next_gpt2(t, i); break;
      case SplitPattern::kLlama3: end = next_llama3(t, i, 3); break;
      case SplitPattern::kQwen2: end = next_llama3(t, i, 1); break;
      default: end = t.size(); break;
    }
    out.emplace_back(t.offsets[i], t.offsets[end]);
    i = end;
  }
  return out;
}

}  // namespace pensieve::tokenizer
