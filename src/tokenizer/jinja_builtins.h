#pragma once
// Jinja2's built-in operations on values: attribute and item access, slicing, iteration,
// arithmetic and comparison with Python semantics, filters, tests, the methods of str/dict/list,
// and the globals transformers provides (raise_exception, strftime_now, namespace, ...).
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_value.h"

namespace pensieve::tokenizer::jinja {

// obj.name: a Python attribute (method) first, then the item.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: the item first, then a Python attribute when key is a string.
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// The items a for-loop visits: list/tuple items, dict keys, characters; undefined is empty.
std::vector<Value> iterate(const Value& v);

Value binary_op(const std::string& op, const Value& a, const Value& b, const Limits& limits);
Value negate(const Value& v);
// Python ordering; throws for types without an order.
bool less_than(const Value& a, const Value& b);
bool compare(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // Python `item in container`

Value call_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
bool call_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
// A bound method of a str, dict or list value, or undefined if it has none of that name.
Value method(const Value& self, const std::string& name);
std::vector<std::pair<std::string, Value>> global_variables();
// Python str.replace; count < 0 replaces all.
std::string replace_all(const std::string& s, const std::string& old_s, const std::string& new_s, int64_t count,
                        std::size_t max_bytes);

// Binds call arguments to parameter names, as Python does, and rejects unknown ones.
class ArgReader {
 public:
  ArgReader(const CallArgs& args, std::string function, std::vector<std::string> params);
  bool has(std::size_t i) const;
  const Value& get(std::size_t i) const;  // undefined when not given
  Value get(std::size_t i, Value fallback) const;

 private:
  std::vector<Value> bound_;
  std::vector<bool> given_;
};

}  // namespace pensieve::tokenizer::jinja
