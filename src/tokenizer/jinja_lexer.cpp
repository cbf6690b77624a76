#include "tokenizer/jinja_lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "common/error.h"
#include "tokenizer/jinja_unicode.h"

namespace pensieve::tokenizer::jinja {

void syntax_error(int line, int column, const std::string& message) {
  throw Error("chat template syntax error at line " + std::to_string(line) + ", column " +
              std::to_string(column) + ": " + message);
}

namespace {

// Newlines normalized to \n and one trailing newline removed (keep_trailing_newline=False).
std::string normalize(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Length in bytes of the whitespace (Python's \s) that starts at `pos`, one code point at a time.
std::size_t space_at(const std::string& s, std::size_t pos) {
  if (pos >= s.size()) return 0;
  const auto b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) return (ascii_space(s[pos]) || (b >= 0x1C && b <= 0x1F)) ? 1 : 0;
  std::size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
  if (pos + len > s.size()) return 0;
  const std::u32string cp = utf8_decode(std::string_view(s).substr(pos, len));
  return (cp.size() == 1 && is_space(cp[0])) ? len : 0;
}

std::size_t skip_spaces(const std::string& s, std::size_t pos) {
  while (std::size_t n = space_at(s, pos)) pos += n;
  return pos;
}

bool all_space(const std::string& s, std::size_t from, std::size_t to) {
  std::size_t p = from;
  while (p < to) {
    const std::size_t n = space_at(s, p);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

std::string rstrip_spaces(const std::string& s) {
  return strip(s, false, true);
}

bool starts_with(const std::string& s, std::size_t pos, const char* prefix) {
  return s.compare(pos, std::char_traits<char>::length(prefix), prefix) == 0;
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_dec(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    std::size_t pos = 0;
    bool line_starting = true;
    while (pos < s_.size()) {
      std::size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit_text(s_.substr(pos), pos);
        break;
      }
      const char kind = s_[tag + 1];
      std::size_t after = tag + 2;
      char sign = 0;
      if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after];

      std::size_t raw_body = 0;
      const bool raw = kind == '%' && match_raw_begin(tag, raw_body);

      std::string text = s_.substr(pos, tag - pos);
      if (sign == '-') {
        text = rstrip_spaces(text);
      } else if (sign != '+' && kind != '{') {
        const std::size_t nl = text.rfind('\n');
        const std::size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() && all_space(text, l_pos, text.size())) {
          text.resize(l_pos);
        }
      }
      emit_text(std::move(text), pos);

      if (raw) {
        pos = lex_raw(raw_body, line_starting);
        continue;
      }
      if (sign) ++after;
      if (kind == '#') {
        pos = lex_comment(tag, after, line_starting);
      } else {
        pos = lex_tag(tag, after, kind == '%', line_starting);
      }
    }
    Token eof{TokenKind::Eof, "", 0, 0, 0, 0};
    set_position(eof, s_.size());
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  std::size_t find_tag(std::size_t from) const {
    for (std::size_t i = s_.find('{', from); i != std::string::npos; i = s_.find('{', i + 1)) {
      if (i + 1 < s_.size() && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void set_position(Token& t, std::size_t offset) {
    // Line/column counted incrementally: tokens arrive in source order.
    while (scan_ < offset && scan_ < s_.size()) {
      if (s_[scan_] == '\n') {
        ++line_;
        line_start_ = scan_ + 1;
      }
      ++scan_;
    }
    t.line = line_;
    t.column = static_cast<int>(utf8_length(std::string_view(s_).substr(line_start_, offset - line_start_))) + 1;
  }

  [[noreturn]] void fail(std::size_t offset, const std::string& message) {
    Token t{};
    set_position(t, offset);
    syntax_error(t.line, t.column, message);
  }

  void emit_text(std::string text, std::size_t offset) {
    if (text.empty()) return;
    Token t{TokenKind::Text, std::move(text), 0, 0, 0, 0};
    set_position(t, offset);
    tokens_.push_back(std::move(t));
  }

  void push(TokenKind kind, std::string text, std::size_t offset) {
    Token t{kind, std::move(text), 0, 0, 0, 0};
    set_position(t, offset);
    tokens_.push_back(std::move(t));
  }

  // {%[-+]?\s*raw\s*(-%}\s*|%})
  bool match_raw_begin(std::size_t tag, std::size_t& body) {
    std::size_t p = tag + 2;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) ++p;
    p = skip_spaces(s_, p);
    if (!starts_with(s_, p, "raw")) return false;
    p = skip_spaces(s_, p + 3);
    if (starts_with(s_, p, "-%}")) {
      body = skip_spaces(s_, p + 3);
      return true;
    }
    if (starts_with(s_, p, "%}")) {
      body = p + 2;
      return true;
    }
    return false;
  }

  std::size_t lex_raw(std::size_t body, bool& line_starting) {
    for (std::size_t i = s_.find("{%", body); i != std::string::npos; i = s_.find("{%", i + 1)) {
      std::size_t p = i + 2;
      char sign = 0;
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
      p = skip_spaces(s_, p);
      if (!starts_with(s_, p, "endraw")) continue;
      p = skip_spaces(s_, p + 6);
      std::size_t end = 0;
      if (starts_with(s_, p, "+%}")) {
        end = p + 3;
      } else if (starts_with(s_, p, "-%}")) {
        end = skip_spaces(s_, p + 3);
      } else if (starts_with(s_, p, "%}")) {
        end = p + 2;
        if (end < s_.size() && s_[end] == '\n') ++end;
      } else {
        continue;
      }
      std::string text = s_.substr(body, i - body);
      if (sign == '-') {
        text = rstrip_spaces(text);
      } else if (sign != '+') {
        const std::size_t nl = text.rfind('\n');
        const std::size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos > 0 && l_pos < text.size() && all_space(text, l_pos, text.size())) text.resize(l_pos);
      }
      emit_text(std::move(text), body);
      line_starting = s_[end - 1] == '\n';
      return end;
    }
    fail(body, "Missing end of raw directive");
  }

  std::size_t lex_comment(std::size_t tag, std::size_t p, bool& line_starting) {
    for (; p < s_.size(); ++p) {
      std::size_t end = 0;
      if (starts_with(s_, p, "+#}")) {
        end = p + 3;
      } else if (starts_with(s_, p, "-#}")) {
        end = skip_spaces(s_, p + 3);
      } else if (starts_with(s_, p, "#}")) {
        end = p + 2;
        if (end < s_.size() && s_[end] == '\n') ++end;
      } else {
        continue;
      }
      line_starting = s_[end - 1] == '\n';
      return end;
    }
    fail(tag, "Missing end of comment tag");
  }

  // Tokens of a {% %} or {{ }} tag; the end marker only counts outside brackets, as in Jinja2.
  std::size_t lex_tag(std::size_t tag, std::size_t p, bool block, bool& line_starting) {
    push(block ? TokenKind::BlockBegin : TokenKind::VariableBegin, "", tag);
    std::vector<char> brackets;
    while (true) {
      if (p >= s_.size()) fail(tag, block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
      if (brackets.empty()) {
        std::size_t end = 0;
        if (block) {
          if (starts_with(s_, p, "+%}")) {
            end = p + 3;
          } else if (starts_with(s_, p, "-%}")) {
            end = skip_spaces(s_, p + 3);
          } else if (starts_with(s_, p, "%}")) {
            end = p + 2;
            if (end < s_.size() && s_[end] == '\n') ++end;
          }
        } else {
          if (starts_with(s_, p, "-}}")) {
            end = skip_spaces(s_, p + 3);
          } else if (starts_with(s_, p, "}}")) {
            end = p + 2;
          }
        }
        if (end) {
          push(block ? TokenKind::BlockEnd : TokenKind::VariableEnd, "", p);
          line_starting = s_[end - 1] == '\n';
          return end;
        }
      }
      if (std::size_t n = space_at(s_, p)) {
        p = skip_spaces(s_, p + n);
        continue;
      }
      const char c = s_[p];
      if (is_dec(c)) {
        p = lex_number(p);
      } else if (is_name_start(c)) {
        std::size_t e = p;
        while (e < s_.size() && is_name_char(s_[e])) ++e;
        push(TokenKind::Name, s_.substr(p, e - p), p);
        p = e;
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        p = lex_operator(p, brackets);
      }
    }
  }

  std::size_t lex_number(std::size_t p) {
    auto digits = [&](std::size_t q) {  // (\d+_)*\d+ ; returns end or npos
      if (q >= s_.size() || !is_dec(s_[q])) return std::string::npos;
      while (q < s_.size()) {
        if (is_dec(s_[q])) {
          ++q;
        } else if (s_[q] == '_' && q + 1 < s_.size() && is_dec(s_[q + 1])) {
          ++q;
        } else {
          break;
        }
      }
      return q;
    };
    auto clean = [](std::string t) {
      std::string r;
      for (char ch : t) {
        if (ch != '_') r += ch;
      }
      return r;
    };
    // Float first, as Jinja2 tries it first; not right after a '.' (x.0.1 is attribute access).
    const bool after_dot = p > 0 && s_[p - 1] == '.';
    if (!after_dot) {
      const std::size_t int_end = digits(p);
      std::size_t end = std::string::npos;
      std::size_t q = int_end;
      std::size_t frac_end = std::string::npos;
      if (q < s_.size() && s_[q] == '.') frac_end = digits(q + 1);
      std::size_t exp_from = frac_end != std::string::npos ? frac_end : int_end;
      if (exp_from < s_.size() && (s_[exp_from] == 'e' || s_[exp_from] == 'E')) {
        std::size_t r = exp_from + 1;
        if (r < s_.size() && (s_[r] == '+' || s_[r] == '-')) ++r;
        const std::size_t exp_end = digits(r);
        if (exp_end != std::string::npos) end = exp_end;
      }
      if (end == std::string::npos && frac_end != std::string::npos) end = frac_end;
      if (end != std::string::npos) {
        Token t{TokenKind::Float, s_.substr(p, end - p), 0, 0, 0, 0};
        t.float_value = std::strtod(clean(t.text).c_str(), nullptr);
        set_position(t, p);
        tokens_.push_back(std::move(t));
        return end;
      }
    }
    int base = 10;
    std::size_t start = p;
    std::size_t end = p;
    if (s_[p] == '0' && p + 1 < s_.size() && std::string("bBoOxX").find(s_[p + 1]) != std::string::npos) {
      const char b = static_cast<char>(s_[p + 1] | 0x20);
      base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
      auto ok = [&](char ch) {
        if (base == 2) return ch == '0' || ch == '1';
        if (base == 8) return ch >= '0' && ch <= '7';
        return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
      };
      std::size_t q = p + 2;
      while (q < s_.size() && (ok(s_[q]) || (s_[q] == '_' && q + 1 < s_.size() && ok(s_[q + 1])))) ++q;
      if (q > p + 2) {
        start = p + 2;
        end = q;
      }
    }
    if (end == p) {
      base = 10;
      if (s_[p] == '0') {  // 0(_?0)*
        end = p + 1;
        while (end < s_.size() && (s_[end] == '0' || (s_[end] == '_' && end + 1 < s_.size() && s_[end + 1] == '0'))) ++end;
      } else {
        end = digits(p);
      }
    }
    Token t{TokenKind::Integer, s_.substr(p, end - p), 0, 0, 0, 0};
    const std::string body = clean(s_.substr(start, end - start));
    errno = 0;
    const unsigned long long v = std::strtoull(body.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) fail(p, "integer literal too large");
    t.int_value = static_cast<int64_t>(v);
    set_position(t, p);
    tokens_.push_back(std::move(t));
    return end;
  }

  // A quoted literal decoded like Python's unicode-escape codec (what Jinja2 applies).
  std::size_t lex_string(std::size_t p) {
    const char quote = s_[p];
    std::size_t q = p + 1;
    std::string out;
    while (true) {
      if (q >= s_.size()) fail(p, "unexpected char '" + std::string(1, quote) + "'");
      const char c = s_[q];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        ++q;
        continue;
      }
      if (q + 1 >= s_.size()) fail(p, "unexpected char '" + std::string(1, quote) + "'");
      const char e = s_[q + 1];
      q += 2;
      auto hex = [&](int n) -> char32_t {
        char32_t v = 0;
        for (int k = 0; k < n; ++k) {
          if (q >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[q]))) {
            fail(p, "truncated escape in string literal");
          }
          const char h = s_[q++];
          v = v * 16 + static_cast<char32_t>(is_dec(h) ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        return v;
      };
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': utf8_append(out, hex(2)); break;
        case 'u':
        case 'U': {
          const char32_t cp = hex(e == 'u' ? 4 : 8);
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail(p, "illegal Unicode character in string literal");
          utf8_append(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && q < s_.size() && s_[q] >= '0' && s_[q] <= '7'; ++k) v = v * 8 + static_cast<char32_t>(s_[q++] - '0');
            utf8_append(out, v);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    push(TokenKind::String, std::move(out), p);
    return q + 1;
  }

  std::size_t lex_operator(std::size_t p, std::vector<char>& brackets) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (starts_with(s_, p, op)) {
        push(TokenKind::Operator, op, p);
        return p + 2;
      }
    }
    const char c = s_[p];
    if (std::string("+-/*%~[](){}><=.:|,;").find(c) == std::string::npos) {
      fail(p, std::string("unexpected char '") + c + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) fail(p, std::string("unexpected '") + c + "'");
      if (brackets.back() != c) fail(p, std::string("unexpected '") + c + "', expected '" + brackets.back() + "'");
      brackets.pop_back();
    }
    push(TokenKind::Operator, std::string(1, c), p);
    return p + 1;
  }

  std::string s_;
  std::vector<Token> tokens_;
  std::size_t scan_ = 0;
  std::size_t line_start_ = 0;
  int line_ = 1;
};

}  // namespace

std::vector<Token> lex(const std::string& source) { return Lexer(normalize(source)).run(); }

}  // namespace pensieve::tokenizer::jinja
