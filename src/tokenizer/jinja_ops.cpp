// Attribute/item access, slicing, iteration and operators with the semantics of Python objects
// seen through Jinja2's sandbox.
#include <cmath>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_unicode.h"

namespace pensieve::tokenizer::jinja {

namespace {

std::string object_name(const Value& v) {
  if (v.is_none()) return "None";
  return std::string("'") + type_name(v) + " object'";
}

Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined(object_name(obj) + " has no attribute '" + name + "'");
}

// Python index normalisation; false when out of range.
bool normalize_index(int64_t& i, std::size_t size) {
  const auto n = static_cast<int64_t>(size);
  if (i < 0) i += n;
  return i >= 0 && i < n;
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_namespace()) {
    if (const Value* v = obj.as_namespace().attrs.find(name)) return *v;
    return no_attribute(obj, name);
  }
  Value m = method(obj, name);
  if (!m.is_undefined()) return m;
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  }
  return no_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.to_int();
    if (obj.is_list()) {
      const auto& items = obj.as_list().items;
      if (normalize_index(i, items.size())) return items[static_cast<std::size_t>(i)];
      return Value::undefined(object_name(obj) + " has no element " + std::to_string(key.to_int()));
    }
    const std::u32string chars = utf8_decode(obj.as_string());
    if (normalize_index(i, chars.size())) return Value(utf8_encode(chars.substr(static_cast<std::size_t>(i), 1)));
    return Value::undefined(object_name(obj) + " has no element " + std::to_string(key.to_int()));
  } else if (obj.is_namespace() && key.is_string()) {
    if (const Value* v = obj.as_namespace().attrs.find(key.as_string())) return *v;
  }
  if (key.is_string()) {
    Value m = method(obj, key.as_string());
    if (!m.is_undefined()) return m;
    return no_attribute(obj, key.as_string());
  }
  return Value::undefined(object_name(obj) + " has no element " + to_repr(key));
}

namespace {

int64_t slice_bound(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  runtime_error(std::string("slice ") + what + " must be an integer or None");
}

// Python's slice.indices: the positions a slice visits.
std::vector<std::size_t> slice_positions(std::size_t size, const Value& start_v, const Value& stop_v,
                                         const Value& step_v) {
  const auto n = static_cast<int64_t>(size);
  const int64_t step = step_v.is_none() ? 1 : slice_bound(step_v, "step");
  if (step == 0) runtime_error("slice step cannot be zero");
  int64_t start;
  int64_t stop;
  auto clamp = [&](int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); };
  if (step > 0) {
    start = start_v.is_none() ? 0 : slice_bound(start_v, "start");
    stop = stop_v.is_none() ? n : slice_bound(stop_v, "stop");
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    start = clamp(start, 0, n);
    stop = clamp(stop, 0, n);
  } else {
    start = start_v.is_none() ? n - 1 : slice_bound(start_v, "start");
    stop = stop_v.is_none() ? -1 : slice_bound(stop_v, "stop");
    if (!start_v.is_none() && start < 0) start += n;
    if (!stop_v.is_none() && stop < 0) stop += n;
    start = clamp(start, -1, n - 1);
    stop = clamp(stop, -1, n - 1);
  }
  std::vector<std::size_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(static_cast<std::size_t>(i));
  return out;
}

}  // namespace

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_list()) {
    const auto& items = obj.as_list().items;
    std::vector<Value> out;
    for (std::size_t i : slice_positions(items.size(), start, stop, step)) out.push_back(items[i]);
    return Value::list(std::move(out), obj.is_tuple());
  }
  if (obj.is_string()) {
    const std::u32string chars = utf8_decode(obj.as_string());
    std::u32string out;
    for (std::size_t i : slice_positions(chars.size(), start, stop, step)) out.push_back(chars[i]);
    return Value(utf8_encode(out));
  }
  return Value::undefined(object_name(obj) + " is not subscriptable");
}

std::vector<Value> iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_list()) return v.as_list().items;
  if (v.is_dict()) {
    std::vector<Value> keys;
    for (const auto& [k, x] : v.as_dict().items) keys.push_back(k);
    return keys;
  }
  if (v.is_string()) {
    std::vector<Value> chars;
    std::string cur;
    for (char32_t c : utf8_decode(v.as_string())) {
      cur.clear();
      utf8_append(cur, c);
      chars.emplace_back(cur);
    }
    return chars;
  }
  runtime_error(std::string("'") + type_name(v) + "' object is not iterable");
}

namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  runtime_error("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

int64_t add_checked(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) runtime_error("integer overflow");
  return r;
}

int64_t sub_checked(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) runtime_error("integer overflow");
  return r;
}

int64_t mul_checked(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) runtime_error("integer overflow");
  return r;
}

int64_t floordiv(int64_t a, int64_t b) {
  if (b == 0) runtime_error("integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) runtime_error("integer overflow");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t pymod(int64_t a, int64_t b) {
  if (b == 0) runtime_error("integer division or modulo by zero");
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

double fmod_py(double a, double b) {
  if (b == 0) runtime_error("float modulo");
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  if (r == 0) r = std::copysign(0.0, b);
  return r;
}

Value repeat(const Value& seq, int64_t times, const Limits& limits) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(times) > limits.max_output_bytes / s.size()) runtime_error("output too large");
    std::string out;
    out.reserve(s.size() * static_cast<std::size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.as_list().items;
  if (!items.empty() && static_cast<uint64_t>(times) > limits.max_output_bytes / 16 / items.size()) {
    runtime_error("list too large");
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::list(std::move(out), seq.is_tuple());
}

Value power(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float() && b.to_int() >= 0) {
    int64_t base = a.to_int();
    int64_t exp = b.to_int();
    int64_t result = 1;
    while (exp > 0) {
      if (exp & 1) result = mul_checked(result, base);
      exp >>= 1;
      if (exp > 0) base = mul_checked(base, base);
    }
    return Value(result);
  }
  const double x = a.to_float();
  const double y = b.to_float();
  if (x == 0 && y < 0) runtime_error("0.0 cannot be raised to a negative power");
  if (x < 0 && y != std::floor(y)) runtime_error("negative number cannot be raised to a fractional power");
  return Value(std::pow(x, y));
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b, const Limits& limits) {
  if (op == "~") {
    std::string s = to_str(a);
    s += to_str(b);
    if (s.size() > limits.max_output_bytes) runtime_error("output too large");
    return Value(std::move(s));
  }
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.is_float() || b.is_float());
  if (op == "+") {
    if (floats) return Value(a.to_float() + b.to_float());
    if (numbers) return Value(add_checked(a.to_int(), b.to_int()));
    if (a.is_string() && b.is_string()) {
      if (a.as_string().size() + b.as_string().size() > limits.max_output_bytes) runtime_error("output too large");
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      std::vector<Value> items = a.as_list().items;
      items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
      if (items.size() > limits.max_output_bytes / 16) runtime_error("list too large");
      return Value::list(std::move(items), a.is_tuple());
    }
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (floats) return Value(a.to_float() - b.to_float());
    if (numbers) return Value(sub_checked(a.to_int(), b.to_int()));
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (floats) return Value(a.to_float() * b.to_float());
    if (numbers) return Value(mul_checked(a.to_int(), b.to_int()));
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.to_int(), limits);
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.to_int(), limits);
    unsupported("*", a, b);
  }
  if (op == "/") {
    if (!numbers) unsupported("/", a, b);
    if (b.to_float() == 0) runtime_error("division by zero");
    if (!floats) return Value(static_cast<double>(a.to_int()) / static_cast<double>(b.to_int()));
    return Value(a.to_float() / b.to_float());
  }
  if (op == "//") {
    if (!numbers) unsupported("//", a, b);
    if (!floats) return Value(floordiv(a.to_int(), b.to_int()));
    if (b.to_float() == 0) runtime_error("float floor division by zero");
    return Value(std::floor(a.to_float() / b.to_float()));
  }
  if (op == "%") {
    if (!numbers) unsupported("%", a, b);
    if (!floats) return Value(pymod(a.to_int(), b.to_int()));
    return Value(fmod_py(a.to_float(), b.to_float()));
  }
  if (op == "**") {
    if (!numbers) unsupported("**", a, b);
    return power(a, b);
  }
  runtime_error("unknown operator " + op);
}

Value negate(const Value& v) {
  if (v.is_float()) return Value(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    if (v.to_int() == INT64_MIN) runtime_error("integer overflow");
    return Value(-v.to_int());
  }
  if (v.is_undefined()) undefined_error(v);
  runtime_error("bad operand type for unary -: '" + type_name(v) + "'");
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_float() < b.to_float();
    return a.to_int() < b.to_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 keeps code point order
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  runtime_error("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

bool compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if (op == "<=") return less_than(a, b) || (equals(a, b) && !(a.is_undefined()));
  if (op == ">=") return less_than(b, a) || (equals(a, b) && !(a.is_undefined()));
  runtime_error("unknown comparison " + op);
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      if (item.is_undefined()) undefined_error(item);
      runtime_error("'in <string>' requires string as left operand, not " + type_name(item));
    }
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) return container.as_dict().find(item) != nullptr;
  if (container.is_list()) {
    for (const auto& x : container.as_list().items) {
      if (equals(x, item)) return true;
    }
    return false;
  }
  if (container.is_undefined()) return false;
  runtime_error("argument of type '" + type_name(container) + "' is not iterable");
}

}  // namespace pensieve::tokenizer::jinja
