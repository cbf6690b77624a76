#pragma once
// Builds the statement tree of a template from its tokens, following Jinja2's grammar
// (operator precedence, filters and tests, tuples, slices, statement tags).
#include <vector>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"

namespace pensieve::tokenizer::jinja {

// Throws pensieve::Error with line and column on a syntax error.
Body parse(const std::vector<Token>& tokens);

inline constexpr int kMaxParseDepth = 100;  // nesting of expressions and blocks

}  // namespace pensieve::tokenizer::jinja
