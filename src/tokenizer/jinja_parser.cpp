#include "tokenizer/jinja_parser.h"

#include <set>

namespace pensieve::tokenizer::jinja {

namespace {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  Body run() {
    Body body = parse_body({});
    if (cur().kind != TokenKind::Eof) fail("unexpected token");
    return body;
  }

 private:
  // --- token helpers -------------------------------------------------------------------------
  const Token& cur() const { return t_[i_]; }
  const Token& peek(std::size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().kind == TokenKind::Operator && cur().text == op; }
  bool is_name(const char* name) const { return cur().kind == TokenKind::Name && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(const std::string& message) const {
    std::string what = message;
    const Token& t = cur();
    if (t.kind == TokenKind::Eof) {
      what += " (unexpected end of template)";
    } else if (!t.text.empty() && t.kind != TokenKind::Text) {
      what += " near '" + t.text + "'";
    }
    syntax_error(t.line, t.column, what);
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "'");
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::Name) fail("expected a name");
    std::string n = cur().text;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().kind != TokenKind::BlockEnd) fail("expected end of statement block");
    next();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth) p_.fail("template nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  ExprPtr make(ExprKind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // --- statements ----------------------------------------------------------------------------
  // Parses until a block tag whose keyword is in `end_tags`; leaves the cursor on that keyword.
  Body parse_body(const std::set<std::string>& end_tags) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == TokenKind::Eof) {
        if (!end_tags.empty()) fail("missing end tag (" + *end_tags.begin() + ")");
        return body;
      }
      if (t.kind == TokenKind::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->text = t.text;
        s->line = t.line;
        s->column = t.column;
        body.push_back(std::move(s));
        next();
      } else if (t.kind == TokenKind::VariableBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = t.line;
        s->column = t.column;
        next();
        s->expr = parse_tuple(true, {});
        if (cur().kind != TokenKind::VariableEnd) fail("expected end of print statement");
        next();
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::BlockBegin) {
        const Token& kw = peek();
        if (kw.kind == TokenKind::Name && end_tags.count(kw.text)) {
          next();
          return body;
        }
        next();
        body.push_back(parse_statement());
      } else {
        fail("unexpected token");
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& kw = cur();
    if (kw.kind != TokenKind::Name) fail("tag name expected");
    auto s = std::make_unique<Stmt>();
    s->line = kw.line;
    s->column = kw.column;
    const std::string name = kw.text;
    next();
    if (name == "if") {
      parse_if(*s);
    } else if (name == "for") {
      parse_for(*s);
    } else if (name == "set") {
      parse_set(*s);
    } else if (name == "macro") {
      parse_macro(*s);
    } else if (name == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->filter = parse_filter_chain(nullptr);
      expect_block_end();
      s->body = parse_body({"endfilter"});
      next();
      expect_block_end();
    } else if (name == "generation") {
      s->kind = StmtKind::Scope;
      expect_block_end();
      s->body = parse_body({"endgeneration"});
      next();
      expect_block_end();
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) syntax_error(s->line, s->column, std::string("'") + name + "' outside of a loop");
      s->kind = name == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
    } else {
      syntax_error(s->line, s->column, "unknown or unsupported tag '" + name + "'");
    }
    return s;
  }

  void parse_if(Stmt& s) {
    s.kind = StmtKind::If;
    ExprPtr cond = parse_tuple(false, {});
    expect_block_end();
    while (true) {
      Body body = parse_body({"elif", "else", "endif"});
      s.branches.emplace_back(std::move(cond), std::move(body));
      const std::string tag = cur().text;
      next();
      if (tag == "elif") {
        cond = parse_tuple(false, {});
        expect_block_end();
      } else if (tag == "else") {
        expect_block_end();
        s.branches.emplace_back(nullptr, parse_body({"endif"}));
        next();
        expect_block_end();
        return;
      } else {
        expect_block_end();
        return;
      }
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = skip_op("(");
    do {
      if (paren && is_op(")")) break;
      names.push_back(expect_name());
    } while (skip_op(","));
    if (paren) expect_op(")");
    return names;
  }

  void parse_for(Stmt& s) {
    s.kind = StmtKind::For;
    s.targets = parse_targets();
    if (!skip_name("in")) fail("expected 'in'");
    s.expr = parse_tuple(false, {"recursive"});
    if (skip_name("if")) s.filter = parse_expression(true);
    if (skip_name("recursive")) s.recursive = true;
    expect_block_end();
    ++loop_depth_;
    s.body = parse_body({"endfor", "else"});
    --loop_depth_;
    const std::string tag = cur().text;
    next();
    expect_block_end();
    if (tag == "else") {
      s.else_body = parse_body({"endfor"});
      next();
      expect_block_end();
    }
  }

  void parse_set(Stmt& s) {
    const std::string first = expect_name();
    s.targets.push_back(first);
    if (skip_op(".")) {
      s.attribute = expect_name();
    } else {
      while (skip_op(",")) {
        if (is_op("=")) break;
        s.targets.push_back(expect_name());
      }
    }
    if (skip_op("=")) {
      s.kind = StmtKind::Set;
      s.expr = parse_tuple(true, {});
      expect_block_end();
      return;
    }
    if (!s.attribute.empty() || s.targets.size() != 1) fail("expected '='");
    s.kind = StmtKind::SetBlock;
    if (is_op("|")) s.filter = parse_filter_chain(nullptr);
    expect_block_end();
    s.body = parse_body({"endset"});
    next();
    expect_block_end();
  }

  void parse_macro(Stmt& s) {
    s.kind = StmtKind::Macro;
    s.text = expect_name();
    expect_op("(");
    bool seen_default = false;
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string param = expect_name();
      ExprPtr def;
      if (skip_op("=")) {
        def = parse_expression(true);
        seen_default = true;
      } else if (seen_default) {
        fail("non-default argument follows default argument");
      }
      s.params.emplace_back(std::move(param), std::move(def));
    }
    expect_op(")");
    expect_block_end();
    const int saved = loop_depth_;
    loop_depth_ = 0;
    s.body = parse_body({"endmacro"});
    loop_depth_ = saved;
    next();
    if (cur().kind == TokenKind::Name && cur().text == s.text) next();
    expect_block_end();
  }

  // --- expressions ---------------------------------------------------------------------------
  bool is_tuple_end(const std::set<std::string>& extra_end) const {
    const Token& t = cur();
    if (t.kind == TokenKind::VariableEnd || t.kind == TokenKind::BlockEnd || t.kind == TokenKind::Eof) return true;
    if (t.kind == TokenKind::Operator && t.text == ")") return true;
    return t.kind == TokenKind::Name && extra_end.count(t.text) > 0;
  }

  ExprPtr parse_tuple(bool with_condexpr, const std::set<std::string>& extra_end, bool explicit_parens = false) {
    const Token& start = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail("expected an expression");
    }
    auto e = make(ExprKind::Tuple, start);
    e->children = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      const Token& at = cur();
      next();
      ExprPtr cond = parse_or();
      ExprPtr other;
      if (skip_name("else")) other = parse_expression(true);
      auto e = make(ExprKind::Condition, at);
      e->children.push_back(std::move(expr));
      e->children.push_back(std::move(cond));
      e->children.push_back(std::move(other));
      expr = std::move(e);
    }
    return expr;
  }

  ExprPtr binary(const Token& at, const std::string& op, ExprPtr left, ExprPtr right) {
    auto e = make(ExprKind::Binary, at);
    e->name = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const Token at = cur();
      next();
      left = binary(at, "or", std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const Token at = cur();
      next();
      left = binary(at, "and", std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make(ExprKind::Unary, cur());
      next();
      e->name = "not";
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token at = cur();
    ExprPtr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> rest;
    while (true) {
      if (cur().kind == TokenKind::Operator &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
           cur().text == ">" || cur().text == ">=")) {
        ops.push_back(cur().text);
        next();
      } else if (is_name("in")) {
        ops.push_back("in");
        next();
      } else if (is_name("not") && peek().kind == TokenKind::Name && peek().text == "in") {
        ops.push_back("not in");
        next();
        next();
      } else {
        break;
      }
      rest.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = make(ExprKind::Compare, at);
    e->children.push_back(std::move(first));
    for (auto& r : rest) e->children.push_back(std::move(r));
    e->ops = std::move(ops);
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token at = cur();
      next();
      left = binary(at, at.text, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const Token at = cur();
      next();
      left = binary(at, "~", std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token at = cur();
      next();
      left = binary(at, at.text, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token at = cur();
      next();
      left = binary(at, "**", std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      auto e = make(ExprKind::Unary, cur());
      e->name = cur().text;
      next();
      e->children.push_back(parse_unary(false));
      node = std::move(e);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    if (t.kind == TokenKind::Name) {
      static const std::set<std::string> kTrue = {"true", "True"};
      static const std::set<std::string> kFalse = {"false", "False"};
      static const std::set<std::string> kNone = {"none", "None"};
      auto e = make(ExprKind::Literal, t);
      if (kTrue.count(t.text)) {
        e->value = Value(true);
      } else if (kFalse.count(t.text)) {
        e->value = Value(false);
      } else if (kNone.count(t.text)) {
        e->value = Value(None{});
      } else {
        e->kind = ExprKind::Name;
        e->name = t.text;
      }
      next();
      return e;
    }
    if (t.kind == TokenKind::String) {
      auto e = make(ExprKind::Literal, t);
      std::string s = t.text;
      next();
      while (cur().kind == TokenKind::String) {  // adjacent literals concatenate
        s += cur().text;
        next();
      }
      e->value = Value(std::move(s));
      return e;
    }
    if (t.kind == TokenKind::Integer || t.kind == TokenKind::Float) {
      auto e = make(ExprKind::Literal, t);
      e->value = t.kind == TokenKind::Integer ? Value(t.int_value) : Value(t.float_value);
      next();
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      auto e = make(ExprKind::List, t);
      next();
      while (!is_op("]")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op("]")) break;
        e->children.push_back(parse_expression(true));
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      auto e = make(ExprKind::Dict, t);
      next();
      while (!is_op("}")) {
        if (!e->pairs.empty()) expect_op(",");
        if (is_op("}")) break;
        ExprPtr key = parse_expression(true);
        expect_op(":");
        ExprPtr value = parse_expression(true);
        e->pairs.emplace_back(std::move(key), std::move(value));
      }
      expect_op("}");
      return e;
    }
    fail("unexpected token");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node), true);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    DepthGuard guard(*this);
    const Token at = cur();
    if (skip_op(".")) {
      if (cur().kind == TokenKind::Name) {
        auto e = make(ExprKind::Getattr, at);
        e->name = cur().text;
        next();
        e->children.push_back(std::move(node));
        return e;
      }
      if (cur().kind == TokenKind::Integer) {
        auto e = make(ExprKind::Getitem, at);
        auto idx = make(ExprKind::Literal, cur());
        idx->value = Value(cur().int_value);
        next();
        e->children.push_back(std::move(node));
        e->children.push_back(std::move(idx));
        return e;
      }
      fail("expected name or number");
    }
    expect_op("[");
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) {
        expect_op("]");
        auto e = make(ExprKind::Getitem, at);
        e->children.push_back(std::move(node));
        e->children.push_back(std::move(start));
        return e;
      }
    }
    next();  // the first ':'
    ExprPtr stop;
    ExprPtr step;
    if (!is_op("]") && !is_op(":")) stop = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]")) step = parse_expression(true);
    }
    expect_op("]");
    auto e = make(ExprKind::Slice, at);
    e->children.push_back(std::move(node));
    e->children.push_back(std::move(start));
    e->children.push_back(std::move(stop));
    e->children.push_back(std::move(step));
    return e;
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (cur().kind == TokenKind::Name && peek().kind == TokenKind::Operator && peek().text == "=") {
        std::string key = cur().text;
        next();
        next();
        e.keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (is_op("*") || is_op("**")) fail("*args and **kwargs are not supported");
        if (!e.keywords.empty()) fail("positional argument follows keyword argument");
        e.children.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    DepthGuard guard(*this);
    auto e = make(ExprKind::Call, cur());
    e->children.push_back(std::move(node));
    parse_call_args(*e);
    return e;
  }

  // `| name(args) | name ...`; `node` null for the filter tag forms.
  ExprPtr parse_filter_chain(ExprPtr node, bool single = false) {
    DepthGuard guard(*this);
    bool first = true;
    while (first || (!single && is_op("|"))) {
      if (node || !first || is_op("|")) expect_op("|");
      first = false;
      auto e = make(ExprKind::Filter, cur());
      e->name = expect_name();
      while (skip_op(".")) {
        e->name += '.';
        e->name += expect_name();
      }
      e->children.push_back(std::move(node));
      if (is_op("(")) parse_call_args(*e);
      node = std::move(e);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    DepthGuard guard(*this);
    auto e = make(ExprKind::Test, cur());
    next();  // 'is'
    if (skip_name("not")) e->negated = true;
    e->name = expect_name();
    while (skip_op(".")) {
        e->name += '.';
        e->name += expect_name();
      }
    e->children.push_back(std::move(node));
    if (is_op("(")) {
      parse_call_args(*e);
    } else {
      const Token& t = cur();
      const bool arg_start =
          t.kind == TokenKind::Name || t.kind == TokenKind::String || t.kind == TokenKind::Integer ||
          t.kind == TokenKind::Float || (t.kind == TokenKind::Operator && (t.text == "(" || t.text == "[" || t.text == "{"));
      if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) fail("You cannot chain multiple tests with is");
        e->children.push_back(parse_postfix(parse_primary()));
      }
    }
    return e;
  }

  const std::vector<Token>& t_;
  std::size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace pensieve::tokenizer::jinja
