#pragma once
// The parsed form of a chat template: expressions and statements, as Jinja2's parser builds them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace pensieve::tokenizer::jinja {

enum class ExprKind {
  Literal,    // value
  Name,       // name
  List,       // children
  Tuple,      // children
  Dict,       // pairs
  Getattr,    // children[0].name
  Getitem,    // children[0][children[1]]
  Slice,      // children[0][children[1]:children[2]:children[3]] (null = omitted)
  Call,       // children[0](children[1..], keywords)
  Filter,     // children[0] | name(children[1..], keywords); children[0] null in {% filter %}
  Test,       // children[0] is [not] name(children[1..], keywords)
  Unary,      // op children[0]: "-", "+", "not"
  Binary,     // children[0] op children[1]: + - * / // % ** ~ and or
  Compare,    // children[0] ops[i] children[i+1] ...
  Condition,  // children[0] if children[1] else children[2] (null = undefined)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::Literal;
  int line = 0;
  int column = 0;
  Value value;
  std::string name;
  bool negated = false;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  std::vector<std::pair<ExprPtr, ExprPtr>> pairs;
  std::vector<std::string> ops;
};

enum class StmtKind {
  Text,        // text
  Output,      // {{ expr }}
  If,          // branches (cond null for else)
  For,         // targets in expr [if filter] body [else else_body]
  Set,         // targets (or ns_attr on targets[0]) = expr
  SetBlock,    // targets[0] = rendered body | filter
  Macro,       // name(params) body
  FilterBlock, // body | filter
  Break,
  Continue,
  Scope,       // body rendered in place ({% generation %})
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  StmtKind kind = StmtKind::Text;
  int line = 0;
  int column = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::string> targets;
  std::string attribute;  // {% set ns.attribute = ... %}
  bool recursive = false;
  Body body;
  Body else_body;
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::pair<std::string, ExprPtr>> params;
};

}  // namespace pensieve::tokenizer::jinja
