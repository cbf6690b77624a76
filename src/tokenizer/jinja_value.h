#pragma once
// The values a chat template computes with, modelled on the Python objects Jinja2 hands a
// template: undefined, None, bool, int, float, str, list, tuple, dict (insertion ordered),
// namespace and callables. Lists, tuples and dicts are immutable once built (transformers renders
// in an ImmutableSandboxedEnvironment), so they are shared; a namespace is the one mutable object.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace pensieve::tokenizer::jinja {

class Value;
class Interpreter;

struct Undefined {
  std::string hint;  // why it is undefined, for the error raised when it is used
};
struct None {};

struct List {
  std::vector<Value> items;
  bool is_tuple = false;
  int depth = 1;  // nesting depth, bounded so printing and freeing cannot overflow the stack
};

struct Dict {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
};

struct Namespace {
  Dict attrs;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Callable {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> fn;
};

class Value {
 public:
  using Storage = std::variant<Undefined, None, bool, int64_t, double, std::string,
                               std::shared_ptr<const List>, std::shared_ptr<const Dict>,
                               std::shared_ptr<Namespace>, std::shared_ptr<const Callable>>;

  Value() : v_(Undefined{}) {}
  Value(None) : v_(None{}) {}
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::shared_ptr<Namespace> ns) : v_(std::move(ns)) {}
  Value(std::shared_ptr<const Callable> c) : v_(std::move(c)) {}

  static Value undefined(std::string hint) { return Value(Storage(Undefined{std::move(hint)})); }
  static Value list(std::vector<Value> items, bool is_tuple = false);
  static Value dict(std::vector<std::pair<Value, Value>> items);
  static Value callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);
  static Value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<const List>>(v_); }
  bool is_tuple() const { return is_list() && as_list().is_tuple; }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<const Dict>>(v_); }
  bool is_namespace() const { return std::holds_alternative<std::shared_ptr<Namespace>>(v_); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<const Callable>>(v_); }

  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const List& as_list() const { return *std::get<std::shared_ptr<const List>>(v_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<const Dict>>(v_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(v_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(v_); }
  const void* identity() const;  // object identity for `is sameas` on shared objects

  // Python's int(x) for bool/int; float(x) for any number.
  int64_t to_int() const;
  double to_float() const;
  int depth() const;  // 0 for scalars

  const Storage& storage() const { return v_; }

 private:
  explicit Value(Storage s) : v_(std::move(s)) {}
  Storage v_;
};

// Python's type name as it appears in error messages ("dict object", "str", ...).
std::string type_name(const Value& v);
// Python truthiness; undefined is false.
bool truthy(const Value& v);
// Python `==` between values (1 == 1.0 == True, lists element-wise, dicts order-free).
bool equals(const Value& a, const Value& b);
// Python str(): what `{{ x }}` prints. Undefined prints as "".
std::string to_str(const Value& v);
// Python repr().
std::string to_repr(const Value& v);
// Python repr of a float ("1.0", "1e+16", "inf").
std::string float_repr(double d);

struct JsonOptions {
  std::string indent;        // newline + this per level when has_indent
  bool has_indent = false;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
// Python's json.dumps with the given options (transformers' tojson filter).
std::string to_json(const Value& v, const JsonOptions& options);

// Deepest nesting a list/dict may have.
inline constexpr int kMaxValueDepth = 200;

}  // namespace pensieve::tokenizer::jinja
