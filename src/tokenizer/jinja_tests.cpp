// Jinja2's built-in tests (`x is defined`, `x is string`, ...).
#include <cmath>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_unicode.h"

namespace pensieve::tokenizer::jinja {

namespace {

bool has_upper_or_lower(const std::string& s, bool want_upper) {
  bool cased = false;
  for (char32_t c : utf8_decode(s)) {
    const bool is_upper = to_lower(c) != c;
    const bool is_lower = to_upper(c) != c || c == 0xDF;
    if (want_upper ? is_lower : is_upper) return false;
    if (is_upper || is_lower) cased = true;
  }
  return cased;
}

const char* const kFilters[] = {"trim", "length", "count", "upper", "lower", "title", "capitalize", "string",
                                "safe", "escape", "e", "forceescape", "tojson", "int", "float", "abs", "round",
                                "default", "d", "first", "last", "list", "items", "join", "select", "reject",
                                "selectattr", "rejectattr", "map", "replace", "unique", "indent", "reverse", "sort",
                                "dictsort", "sum", "min", "max", "attr", "center", "wordcount", "format", "pprint"};
const char* const kTests[] = {"defined", "undefined", "none", "boolean", "true", "false", "integer", "float",
                              "number", "string", "mapping", "iterable", "sequence", "callable", "odd", "even",
                              "divisibleby", "sameas", "escaped", "lower", "upper", "in", "eq", "equalto", "==",
                              "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=",
                              "filter", "test"};

template <std::size_t N>
bool listed(const char* const (&names)[N], const std::string& name) {
  for (const char* n : names) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

bool call_test(Interpreter& /*in*/, const std::string& name, const Value& v, CallArgs& args) {
  auto arg = [&]() -> const Value& {
    static const Value kUndefined;
    if (!args.positional.empty()) return args.positional[0];
    if (!args.keyword.empty()) return args.keyword[0].second;
    return kUndefined;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_callable();
  if (name == "odd" || name == "even") {
    if (!(v.is_int() || v.is_bool())) runtime_error("odd/even need an integer");
    const bool odd = (v.to_int() % 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "divisibleby") {
    const Value& d = arg();
    if (!v.is_number() || !d.is_number()) runtime_error("divisibleby needs numbers");
    if (d.to_float() == 0) runtime_error("integer division or modulo by zero");
    if (v.is_float() || d.is_float()) return std::fmod(v.to_float(), d.to_float()) == 0;
    return (d.to_int() == -1) || v.to_int() % d.to_int() == 0;
  }
  if (name == "sameas") {
    const Value& o = arg();
    if (v.identity() || o.identity()) return v.identity() == o.identity();
    if (v.is_none() || o.is_none()) return v.is_none() && o.is_none();
    if (v.is_bool() || o.is_bool()) return v.is_bool() && o.is_bool() && v.as_bool() == o.as_bool();
    if (v.is_undefined() || o.is_undefined()) return false;
    return equals(v, o) && type_name(v) == type_name(o);
  }
  if (name == "escaped") return false;
  if (name == "lower") return has_upper_or_lower(to_str(v), false);
  if (name == "upper") return has_upper_or_lower(to_str(v), true);
  if (name == "in") return contains(arg(), v);
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, arg());
  if (name == "ne" || name == "!=") return !equals(v, arg());
  if (name == "lt" || name == "lessthan" || name == "<") return compare("<", v, arg());
  if (name == "le" || name == "<=") return compare("<=", v, arg());
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(">", v, arg());
  if (name == "ge" || name == ">=") return compare(">=", v, arg());
  if (name == "filter") return v.is_string() && listed(kFilters, v.as_string());
  if (name == "test") return v.is_string() && listed(kTests, v.as_string());
  runtime_error("no test named '" + name + "'");
}

}  // namespace pensieve::tokenizer::jinja
