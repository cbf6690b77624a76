#pragma once
// Splits template source into text and tag tokens exactly as Jinja2's lexer does in the
// environment transformers uses: trim_blocks and lstrip_blocks on, `-`/`+` whitespace control,
// a single trailing newline of the source dropped, \r\n and \r read as \n.
#include <cstdint>
#include <string>
#include <vector>

namespace pensieve::tokenizer::jinja {

enum class TokenKind {
  Text,
  VariableBegin,
  VariableEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Operator,
  Eof,
};

struct Token {
  TokenKind kind;
  std::string text;  // text, name, decoded string literal, or operator
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

// Throws pensieve::Error with "line L, column C" on malformed input.
std::vector<Token> lex(const std::string& source);

// "chat template syntax error at line L, column C: message"
[[noreturn]] void syntax_error(int line, int column, const std::string& message);

}  // namespace pensieve::tokenizer::jinja
