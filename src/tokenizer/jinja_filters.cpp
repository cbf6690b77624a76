// Jinja2's built-in filters, with transformers' tojson (json.dumps, ensure_ascii=False).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_unicode.h"

namespace pensieve::tokenizer::jinja {

ArgReader::ArgReader(const CallArgs& args, std::string function, std::vector<std::string> params)
    : bound_(params.size()), given_(params.size(), false) {
  if (args.positional.size() > params.size()) {
    runtime_error(function + "() takes at most " + std::to_string(params.size()) + " argument(s) (" +
                  std::to_string(args.positional.size()) + " given)");
  }
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    bound_[i] = args.positional[i];
    given_[i] = true;
  }
  for (const auto& [key, value] : args.keyword) {
    const auto it = std::find(params.begin(), params.end(), key);
    if (it == params.end()) runtime_error(function + "() got an unexpected keyword argument '" + key + "'");
    const auto i = static_cast<std::size_t>(it - params.begin());
    if (given_[i]) runtime_error(function + "() got multiple values for argument '" + key + "'");
    bound_[i] = value;
    given_[i] = true;
  }
}

bool ArgReader::has(std::size_t i) const { return i < given_.size() && given_[i]; }

const Value& ArgReader::get(std::size_t i) const {
  static const Value kUndefined;
  return has(i) ? bound_[i] : kUndefined;
}

Value ArgReader::get(std::size_t i, Value fallback) const { return has(i) ? bound_[i] : std::move(fallback); }

std::string replace_all(const std::string& s, const std::string& old_s, const std::string& new_s, int64_t count,
                        std::size_t max_bytes) {
  std::string out;
  if (old_s.empty()) {  // Python inserts `new` between characters and at both ends
    const std::u32string d = utf8_decode(s);
    for (std::size_t i = 0; i <= d.size(); ++i) {
      if (count != 0) {
        out += new_s;
        if (count > 0) --count;
      }
      if (i < d.size()) utf8_append(out, d[i]);
      if (out.size() > max_bytes) runtime_error("output too large");
    }
    return out;
  }
  std::size_t pos = 0;
  while (count != 0) {
    const std::size_t hit = s.find(old_s, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += new_s;
    pos = hit + old_s.size();
    if (count > 0) --count;
    if (out.size() > max_bytes) runtime_error("output too large");
  }
  out.append(s, pos, std::string::npos);
  return out;
}

namespace {

std::string soft_str(const Value& v) { return to_str(v); }

int64_t int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  runtime_error(std::string(what) + " must be an integer, not " + type_name(v));
}

// Follows "a.b.0" through items and attributes, as Jinja2's make_attrgetter does.
Value attribute_of(const Value& item, const Value& attribute) {
  if (attribute.is_int()) return get_item(item, attribute);
  Value cur = item;
  const std::string path = to_str(attribute);
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = numeric ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Python str.splitlines().
std::vector<std::u32string> split_lines(const std::u32string& s) {
  std::vector<std::u32string> lines;
  std::u32string cur;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
        c == 0x2028 || c == 0x2029) {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

Value do_indent(const Value& v, const ArgReader& r) {
  const Value width = r.get(0, Value(4));
  const std::u32string indention =
      width.is_string() ? utf8_decode(width.as_string()) : std::u32string(static_cast<std::size_t>(std::max<int64_t>(0, int_arg(width, "width"))), U' ');
  const bool first = truthy(r.get(1, Value(false)));
  const bool blank = truthy(r.get(2, Value(false)));
  const std::u32string s = utf8_decode(soft_str(v)) + U"\n";
  const std::vector<std::u32string> lines = split_lines(s);
  std::u32string rv;
  if (blank) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += U"\n" + indention;
      rv += lines[i];
    }
  } else if (!lines.empty()) {
    rv = lines[0];
    if (lines.size() > 1) {
      rv += U"\n";
      for (std::size_t i = 1; i < lines.size(); ++i) {
        if (i > 1) rv += U"\n";
        if (!lines[i].empty()) rv += indention;
        rv += lines[i];
      }
    }
  }
  if (first) rv = indention + rv;
  return Value(utf8_encode(rv));
}

Value do_title(const std::string& s) {
  std::u32string out;
  bool word_start = true;
  for (char32_t c : utf8_decode(s)) {
    const bool sep = is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      out.push_back(c);
      word_start = true;
    } else {
      out.push_back(word_start ? to_upper(c) : to_lower(c));
      word_start = false;
    }
  }
  return Value(utf8_encode(out));
}

Value do_capitalize(const std::string& s) {
  std::u32string d = utf8_decode(s);
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = i == 0 ? to_upper(d[i]) : to_lower(d[i]);
  return Value(utf8_encode(d));
}

Value do_tojson(const Value& v, const ArgReader& r) {
  JsonOptions o;
  const Value& indent = r.get(1);
  if (!indent.is_undefined() && !indent.is_none()) {
    o.has_indent = true;
    o.indent = indent.is_string() ? indent.as_string()
                                  : std::string(static_cast<std::size_t>(std::max<int64_t>(0, int_arg(indent, "indent"))), ' ');
    o.item_separator = ",";
  }
  const Value& seps = r.get(2);
  if (seps.is_list() && seps.as_list().items.size() == 2) {
    o.item_separator = to_str(seps.as_list().items[0]);
    o.key_separator = to_str(seps.as_list().items[1]);
  }
  o.ensure_ascii = truthy(r.get(0, Value(false)));
  o.sort_keys = truthy(r.get(3, Value(false)));
  return Value(to_json(v, o));
}

Value do_int(const Value& v, const ArgReader& r) {
  const Value def = r.get(0, Value(0));
  const int64_t base = int_arg(r.get(1, Value(10)), "base");
  if (v.is_int() || v.is_bool()) return Value(v.to_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) >= 9.2e18) return def;
    return Value(static_cast<int64_t>(v.as_float()));
  }
  if (v.is_string()) {
    const std::string s = strip(v.as_string(), true, true);
    std::string digits;
    for (char c : s) {
      if (c != '_') digits += c;
    }
    if (!digits.empty() && base >= 2 && base <= 36) {
      char* end = nullptr;
      errno = 0;
      const long long x = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
      if (end && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(x));
    }
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18) {
      return Value(static_cast<int64_t>(d));
    }
  }
  return def;
}

Value do_float(const Value& v, const ArgReader& r) {
  const Value def = r.get(0, Value(0.0));
  if (v.is_number()) return Value(v.to_float());
  if (v.is_string()) {
    const std::string s = strip(v.as_string(), true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') return Value(d);
  }
  return def;
}

Value do_round(const Value& v, const ArgReader& r) {
  const int64_t precision = int_arg(r.get(0, Value(0)), "precision");
  const std::string method = to_str(r.get(1, Value("common")));
  if (!v.is_number()) runtime_error("round() needs a number, not " + type_name(v));
  if (precision < 0 || precision > 20) runtime_error("round() precision out of range");
  const double x = v.to_float();
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return Value(std::ceil(x * scale) / scale);
  if (method == "floor") return Value(std::floor(x * scale) / scale);
  if (method != "common") runtime_error("method must be common, ceil or floor");
  if (!v.is_float()) return Value(v.to_int());
  if (!std::isfinite(x)) return v;
  // printf rounds the exact binary value half-to-even, as Python's round() does.
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
  return Value(std::strtod(buf, nullptr));
}

std::vector<Value> sorted(Interpreter& in, std::vector<Value> items, bool reverse, bool case_sensitive,
                          const Value& attribute) {
  in.tick(items.size());
  auto key = [&](const Value& x) {
    Value k = attribute.is_undefined() || attribute.is_none() ? x : attribute_of(x, attribute);
    if (!case_sensitive && k.is_string()) return Value(lower(k.as_string()));
    return k;
  };
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& x : items) keyed.emplace_back(key(x), std::move(x));
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return reverse ? less_than(b.first, a.first) : less_than(a.first, b.first);
  });
  std::vector<Value> out;
  for (auto& [k, x] : keyed) out.push_back(std::move(x));
  return out;
}

// select/reject/selectattr/rejectattr share this: keep items whose (attribute's) test matches.
Value select(Interpreter& in, const Value& seq, CallArgs& args, bool by_attribute, bool keep_when) {
  std::size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) runtime_error("missing attribute argument");
    attribute = args.positional[next++];
  }
  std::string test_name;
  if (next < args.positional.size()) test_name = to_str(args.positional[next++]);
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
  test_args.keyword = args.keyword;
  std::vector<Value> out;
  for (const Value& item : iterate(seq)) {
    in.tick();
    const Value subject = by_attribute ? attribute_of(item, attribute) : item;
    const bool passed = test_name.empty() ? truthy(subject) : in.test(test_name, subject, test_args);
    if (passed == keep_when) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value do_map(Interpreter& in, const Value& seq, CallArgs& args) {
  std::vector<Value> out;
  Value attribute;
  Value def;
  for (const auto& [k, v] : args.keyword) {
    if (k == "attribute") attribute = v;
    if (k == "default") def = v;
  }
  if (!attribute.is_undefined()) {
    for (const Value& item : iterate(seq)) {
      in.tick();
      Value x = attribute_of(item, attribute);
      out.push_back(x.is_undefined() && !def.is_undefined() ? def : x);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) runtime_error("map requires a filter argument");
  const std::string name = to_str(args.positional[0]);
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(seq)) {
    in.tick();
    CallArgs a = rest;
    out.push_back(in.filter(name, item, a));
  }
  return Value::list(std::move(out));
}

Value do_join(Interpreter& in, const Value& v, const ArgReader& r) {
  const std::string sep = soft_str(r.get(0, Value("")));
  const Value& attribute = r.get(1);
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    in.tick();
    if (!first) out += sep;
    first = false;
    out += soft_str(attribute.is_undefined() || attribute.is_none() ? item : attribute_of(item, attribute));
    in.check_size(out.size());
  }
  return Value(std::move(out));
}

Value do_replace(const Value& v, const ArgReader& r, const Limits& limits) {
  const int64_t count = r.has(2) && !r.get(2).is_none() ? int_arg(r.get(2), "count") : -1;
  return Value(replace_all(soft_str(v), soft_str(r.get(0)), soft_str(r.get(1)), count, limits.max_output_bytes));
}

Value do_unique(Interpreter& in, const Value& v, const ArgReader& r) {
  const bool case_sensitive = truthy(r.get(0, Value(false)));
  const Value& attribute = r.get(1);
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const Value& item : iterate(v)) {
    Value key = attribute.is_undefined() || attribute.is_none() ? item : attribute_of(item, attribute);
    if (!case_sensitive && key.is_string()) key = Value(lower(key.as_string()));
    in.tick(seen.size() + 1);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, const ArgReader& r, bool want_max) {
  std::vector<Value> items = sorted(in, iterate(v), false, truthy(r.get(0, Value(false))), r.get(1));
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  return want_max ? items.back() : items.front();
}

Value do_format(const Value& v, CallArgs& args) {
  // printf-style formatting for %s, %d, %i, %r and %%; other conversions are rejected.
  const std::string fmt = soft_str(v);
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (i + 1 >= fmt.size()) runtime_error("incomplete format");
    const char c = fmt[++i];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (next >= args.positional.size()) runtime_error("not enough arguments for format string");
    const Value& a = args.positional[next++];
    if (c == 's') {
      out += to_str(a);
    } else if (c == 'r') {
      out += to_repr(a);
    } else if (c == 'd' || c == 'i') {
      if (!a.is_number()) runtime_error("%d format: a real number is required");
      out += std::to_string(a.is_float() ? static_cast<int64_t>(a.as_float()) : a.to_int());
    } else {
      runtime_error(std::string("unsupported format character '") + c + "'");
    }
  }
  if (next < args.positional.size()) runtime_error("not all arguments converted during string formatting");
  return Value(std::move(out));
}

}  // namespace

Value call_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
  auto reader = [&](std::vector<std::string> params) { return ArgReader(args, name, std::move(params)); };
  auto needs_defined = [&]() {
    if (v.is_undefined()) undefined_error(v);
  };
  if (name == "trim") {
    const ArgReader r = reader({"chars"});
    const Value& chars = r.get(0);
    if (chars.is_undefined() || chars.is_none()) return Value(strip(soft_str(v), true, true));
    const std::u32string set = utf8_decode(to_str(chars));
    return Value(strip(soft_str(v), true, true, &set));
  }
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value(static_cast<int64_t>(utf8_length(v.as_string())));
    if (v.is_list()) return Value(static_cast<int64_t>(v.as_list().items.size()));
    if (v.is_dict()) return Value(static_cast<int64_t>(v.as_dict().items.size()));
    if (v.is_undefined()) return Value(0);
    runtime_error("object of type '" + type_name(v) + "' has no len()");
  }
  if (name == "upper") return Value(upper(soft_str(v)));
  if (name == "lower") return Value(lower(soft_str(v)));
  if (name == "title") return do_title(soft_str(v));
  if (name == "capitalize") return do_capitalize(soft_str(v));
  if (name == "string") return Value(soft_str(v));
  if (name == "safe") return Value(soft_str(v));
  if (name == "escape" || name == "e" || name == "forceescape") return Value(html_escape(soft_str(v)));
  if (name == "tojson") return do_tojson(v, reader({"ensure_ascii", "indent", "separators", "sort_keys"}));
  if (name == "int") return do_int(v, reader({"default", "base"}));
  if (name == "float") return do_float(v, reader({"default"}));
  if (name == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_float()));
    if (v.is_int() || v.is_bool()) {
      if (v.to_int() == INT64_MIN) runtime_error("integer overflow");
      return Value(v.to_int() < 0 ? -v.to_int() : v.to_int());
    }
    needs_defined();
    runtime_error("bad operand type for abs(): '" + type_name(v) + "'");
  }
  if (name == "round") return do_round(v, reader({"precision", "method"}));
  if (name == "default" || name == "d") {
    const ArgReader r = reader({"default_value", "boolean"});
    const bool boolean = truthy(r.get(1, Value(false)));
    if (v.is_undefined() || (boolean && !truthy(v))) return r.get(0, Value(""));
    return v;
  }
  if (name == "first") {
    const std::vector<Value> items = iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  if (name == "last") {
    if (v.is_dict()) runtime_error("'dict' object is not reversible");
    const std::vector<Value> items = iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
  }
  if (name == "list") return Value::list(iterate(v));
  if (name == "items") {
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) runtime_error("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, x] : v.as_dict().items) out.push_back(Value::list({k, x}, true));
    return Value::list(std::move(out));
  }
  if (name == "join") return do_join(in, v, reader({"d", "attribute"}));
  if (name == "select") return select(in, v, args, false, true);
  if (name == "reject") return select(in, v, args, false, false);
  if (name == "selectattr") return select(in, v, args, true, true);
  if (name == "rejectattr") return select(in, v, args, true, false);
  if (name == "map") return do_map(in, v, args);
  if (name == "replace") return do_replace(v, reader({"old", "new", "count"}), in.limits());
  if (name == "unique") return do_unique(in, v, reader({"case_sensitive", "attribute"}));
  if (name == "indent") return do_indent(v, reader({"width", "first", "blank"}));
  if (name == "reverse") {
    if (v.is_string()) {
      std::u32string d = utf8_decode(v.as_string());
      std::reverse(d.begin(), d.end());
      return Value(utf8_encode(d));
    }
    if (v.is_dict()) runtime_error("argument to reversed() must be a sequence");
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "sort") {
    const ArgReader r = reader({"reverse", "case_sensitive", "attribute"});
    return Value::list(sorted(in, iterate(v), truthy(r.get(0, Value(false))), truthy(r.get(1, Value(false))), r.get(2)));
  }
  if (name == "dictsort") {
    const ArgReader r = reader({"case_sensitive", "by", "reverse"});
    if (!v.is_dict()) runtime_error("dictsort needs a mapping");
    const bool by_value = to_str(r.get(1, Value("key"))) == "value";
    std::vector<Value> pairs;
    for (const auto& [k, x] : v.as_dict().items) pairs.push_back(Value::list({k, x}, true));
    return Value::list(sorted(in, std::move(pairs), truthy(r.get(2, Value(false))), truthy(r.get(0, Value(false))),
                              Value(static_cast<int64_t>(by_value ? 1 : 0))));
  }
  if (name == "sum") {
    const ArgReader r = reader({"attribute", "start"});
    Value total = r.get(1, Value(0));
    for (const Value& item : iterate(v)) {
      in.tick();
      total = binary_op("+", total, r.has(0) ? attribute_of(item, r.get(0)) : item, in.limits());
    }
    return total;
  }
  if (name == "min") return min_max(in, v, reader({"case_sensitive", "attribute"}), false);
  if (name == "max") return min_max(in, v, reader({"case_sensitive", "attribute"}), true);
  if (name == "attr") {
    needs_defined();
    return get_attr(v, to_str(reader({"name"}).get(0)));
  }
  if (name == "center") {
    const int64_t width = int_arg(reader({"width"}).get(0, Value(80)), "width");
    const std::string s = soft_str(v);
    const auto len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return Value(s);
    if (width > static_cast<int64_t>(in.limits().max_output_bytes)) runtime_error("output too large");
    const int64_t pad = width - len;
    const int64_t left = pad / 2 + (pad & width & 1);
    return Value(std::string(static_cast<std::size_t>(left), ' ') + s + std::string(static_cast<std::size_t>(pad - left), ' '));
  }
  if (name == "wordcount") {
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : utf8_decode(soft_str(v))) {
      const bool word = is_alpha(c) || is_digit(c) || c == '_';
      if (word && !in_word) ++n;
      in_word = word;
    }
    return Value(n);
  }
  if (name == "format") return do_format(v, args);
  if (name == "pprint") return Value(to_repr(v));
  runtime_error("no filter named '" + name + "'");
}

}  // namespace pensieve::tokenizer::jinja
