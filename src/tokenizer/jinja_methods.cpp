// The methods of str, dict and list that chat templates call (`content.strip()`, `d.items()`).
// The sandbox is immutable, so methods that would modify a list or dict are not offered.
#include <algorithm>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_unicode.h"

namespace pensieve::tokenizer::jinja {

namespace {

using Method = Value (*)(const Value& self, CallArgs& args);

const std::string& str_arg(const Value& v, const char* method) {
  if (!v.is_string()) runtime_error(std::string(method) + "() argument must be str, not " + type_name(v));
  return v.as_string();
}

Value strip_method(const Value& self, CallArgs& args, bool left, bool right, const char* name) {
  const ArgReader r(args, name, {"chars"});
  const Value& chars = r.get(0);
  if (chars.is_undefined() || chars.is_none()) return Value(strip(self.as_string(), left, right));
  const std::u32string set = utf8_decode(str_arg(chars, name));
  return Value(strip(self.as_string(), left, right, &set));
}

Value split_method(const Value& self, CallArgs& args, bool from_right) {
  const ArgReader r(args, from_right ? "rsplit" : "split", {"sep", "maxsplit"});
  const Value& sep_v = r.get(0);
  int64_t maxsplit = r.has(1) ? r.get(1).to_int() : -1;
  std::vector<Value> parts;
  if (sep_v.is_undefined() || sep_v.is_none()) {
    std::u32string s = utf8_decode(self.as_string());
    if (from_right) std::reverse(s.begin(), s.end());
    std::size_t i = 0;
    std::vector<std::u32string> words;
    while (true) {
      while (i < s.size() && is_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
        std::size_t e = s.size();
        while (e > i && is_space(s[e - 1])) --e;
        words.push_back(s.substr(i, e - i));
        break;
      }
      std::size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      words.push_back(s.substr(i, j - i));
      i = j;
    }
    if (from_right) {
      std::reverse(words.begin(), words.end());
      for (auto& w : words) std::reverse(w.begin(), w.end());
    }
    for (const auto& w : words) parts.emplace_back(utf8_encode(w));
    return Value::list(std::move(parts));
  }
  const std::string& sep = str_arg(sep_v, "split");
  if (sep.empty()) runtime_error("empty separator");
  const std::string& s = self.as_string();
  std::vector<std::string> pieces;
  if (!from_right) {
    std::size_t pos = 0;
    while (maxsplit != 0) {
      const std::size_t hit = s.find(sep, pos);
      if (hit == std::string::npos) break;
      pieces.push_back(s.substr(pos, hit - pos));
      pos = hit + sep.size();
      if (maxsplit > 0) --maxsplit;
    }
    pieces.push_back(s.substr(pos));
  } else {
    std::size_t end = s.size();
    while (maxsplit != 0 && end >= sep.size()) {
      const std::size_t hit = s.rfind(sep, end - sep.size());
      if (hit == std::string::npos) break;
      pieces.push_back(s.substr(hit + sep.size(), end - hit - sep.size()));
      end = hit;
      if (maxsplit > 0) --maxsplit;
    }
    pieces.push_back(s.substr(0, end));
    std::reverse(pieces.begin(), pieces.end());
  }
  for (auto& p : pieces) parts.emplace_back(std::move(p));
  return Value::list(std::move(parts));
}

Value affix_method(const Value& self, CallArgs& args, bool prefix) {
  const ArgReader r(args, prefix ? "startswith" : "endswith", {"affix"});
  const Value& a = r.get(0);
  const std::string& s = self.as_string();
  auto test = [&](const Value& v) {
    const std::string& x = str_arg(v, prefix ? "startswith" : "endswith");
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (a.is_tuple()) {
    for (const auto& x : a.as_list().items) {
      if (test(x)) return Value(true);
    }
    return Value(false);
  }
  return Value(test(a));
}

bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

Value str_title(const std::string& s) {
  std::u32string d = utf8_decode(s);
  bool prev_cased = false;
  for (char32_t& c : d) {
    const bool cased = is_cased(c);
    if (cased) c = prev_cased ? to_lower(c) : to_upper(c);
    prev_cased = cased;
  }
  return Value(utf8_encode(d));
}

Value str_format(const std::string& fmt, CallArgs& args) {
  std::string out;
  std::size_t auto_index = 0;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      runtime_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const std::size_t close = fmt.find('}', i);
    if (close == std::string::npos) runtime_error("Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) runtime_error("format specs are not supported");
    const Value* v = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const std::size_t idx = field.empty() ? auto_index++ : static_cast<std::size_t>(std::stoul(field));
      if (idx >= args.positional.size()) runtime_error("Replacement index out of range for positional args tuple");
      v = &args.positional[idx];
    } else {
      for (const auto& [k, x] : args.keyword) {
        if (k == field) v = &x;
      }
      if (!v) runtime_error("KeyError: '" + field + "'");
    }
    out += to_str(*v);
    i = close;
  }
  return Value(std::move(out));
}

Value find_method(const Value& self, CallArgs& args, bool from_right, bool count) {
  const ArgReader r(args, count ? "count" : (from_right ? "rfind" : "find"), {"sub"});
  const std::string& sub = str_arg(r.get(0), "find");
  const std::string& s = self.as_string();
  if (count) {
    if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
    int64_t n = 0;
    for (std::size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value(n);
  }
  const std::size_t p = from_right ? s.rfind(sub) : s.find(sub);
  if (p == std::string::npos) return Value(-1);
  return Value(static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, p))));
}

template <bool (*Pred)(char32_t)>
Value all_chars(const std::string& s) {
  const std::u32string d = utf8_decode(s);
  return Value(!d.empty() && std::all_of(d.begin(), d.end(), Pred));
}

bool alnum(char32_t c) { return is_alpha(c) || is_digit(c); }

Value string_method(const Value& self, const std::string& name, CallArgs& args, std::size_t max_bytes) {
  const std::string& s = self.as_string();
  auto no_args = [&]() {
    if (!args.positional.empty() || !args.keyword.empty()) runtime_error(name + "() takes no arguments");
  };
  if (name == "strip") return strip_method(self, args, true, true, "strip");
  if (name == "lstrip") return strip_method(self, args, true, false, "lstrip");
  if (name == "rstrip") return strip_method(self, args, false, true, "rstrip");
  if (name == "split") return split_method(self, args, false);
  if (name == "rsplit") return split_method(self, args, true);
  if (name == "startswith") return affix_method(self, args, true);
  if (name == "endswith") return affix_method(self, args, false);
  if (name == "upper") return no_args(), Value(upper(s));
  if (name == "lower") return no_args(), Value(lower(s));
  if (name == "title") return no_args(), str_title(s);
  if (name == "capitalize") {
    no_args();
    std::u32string d = utf8_decode(s);
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = i == 0 ? to_upper(d[i]) : to_lower(d[i]);
    return Value(utf8_encode(d));
  }
  if (name == "replace") {
    const ArgReader r(args, "replace", {"old", "new", "count"});
    const int64_t count = r.has(2) ? r.get(2).to_int() : -1;
    return Value(replace_all(s, str_arg(r.get(0), "replace"), str_arg(r.get(1), "replace"), count, max_bytes));
  }
  if (name == "find") return find_method(self, args, false, false);
  if (name == "rfind") return find_method(self, args, true, false);
  if (name == "count") return find_method(self, args, false, true);
  if (name == "format") return str_format(s, args);
  if (name == "isdigit") return no_args(), all_chars<is_digit>(s);
  if (name == "isalpha") return no_args(), all_chars<is_alpha>(s);
  if (name == "isalnum") return no_args(), all_chars<alnum>(s);
  if (name == "isspace") return no_args(), all_chars<is_space>(s);
  if (name == "join") {
    const ArgReader r(args, "join", {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& item : iterate(r.get(0))) {
      if (!first) out += s;
      first = false;
      out += str_arg(item, "join");
    }
    return Value(std::move(out));
  }
  runtime_error("str method '" + name + "' is not supported");
}

}  // namespace

Value method(const Value& self, const std::string& name) {
  static const char* const kStr[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith",
                                     "upper", "lower", "title", "capitalize", "replace", "find", "rfind", "count",
                                     "format", "isdigit", "isalpha", "isalnum", "isspace", "join"};
  if (self.is_string()) {
    if (std::find(std::begin(kStr), std::end(kStr), name) == std::end(kStr)) return Value();
    return Value::callable(name, [self, name](Interpreter& in, CallArgs& args) {
      return string_method(self, name, args, in.limits().max_output_bytes);
    });
  }
  if (self.is_dict()) {
    if (name == "items" || name == "keys" || name == "values") {
      return Value::callable(name, [self, name](Interpreter&, CallArgs& args) {
        const ArgReader r(args, name, {});
        std::vector<Value> out;
        for (const auto& [k, v] : self.as_dict().items) {
          out.push_back(name == "items" ? Value::list({k, v}, true) : name == "keys" ? k : v);
        }
        return Value::list(std::move(out));
      });
    }
    if (name == "get") {
      return Value::callable(name, [self](Interpreter&, CallArgs& args) {
        const ArgReader r(args, "get", {"key", "default"});
        const Value* v = self.as_dict().find(r.get(0));
        return v ? *v : r.get(1, Value(None{}));
      });
    }
    if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear") {
      return Value::callable(name, [name](Interpreter&, CallArgs&) -> Value {
        runtime_error("access to attribute '" + name + "' of 'dict' object is unsafe.");
      });
    }
    return Value();
  }
  if (self.is_list()) {
    if (name == "index" || name == "count") {
      return Value::callable(name, [self, name](Interpreter&, CallArgs& args) {
        const ArgReader r(args, name, {"value"});
        const auto& items = self.as_list().items;
        int64_t n = 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (!equals(items[i], r.get(0))) continue;
          if (name == "index") return Value(static_cast<int64_t>(i));
          ++n;
        }
        if (name == "index") runtime_error("value is not in list");
        return Value(n);
      });
    }
    if (!self.is_tuple() && (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
                             name == "remove" || name == "clear" || name == "sort" || name == "reverse")) {
      return Value::callable(name, [name](Interpreter&, CallArgs&) -> Value {
        runtime_error("access to attribute '" + name + "' of 'list' object is unsafe.");
      });
    }
  }
  return Value();
}

}  // namespace pensieve::tokenizer::jinja
