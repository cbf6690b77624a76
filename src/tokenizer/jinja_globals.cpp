// The globals a chat template sees: Jinja2's range/namespace/dict and transformers'
// raise_exception and strftime_now.
#include <ctime>

#include "common/error.h"

#include "tokenizer/jinja_builtins.h"

namespace pensieve::tokenizer::jinja {

namespace {

constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox refuses larger ranges

Value range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty()) runtime_error("range() takes no keyword arguments");
  const auto& a = args.positional;
  if (a.empty() || a.size() > 3) runtime_error("range expected 1 to 3 arguments");
  for (const Value& v : a) {
    if (!(v.is_int() || v.is_bool())) runtime_error(std::string("'") + type_name(v) + "' object cannot be interpreted as an integer");
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (a.size() == 1) {
    stop = a[0].to_int();
  } else {
    start = a[0].to_int();
    stop = a[1].to_int();
    if (a.size() == 3) step = a[2].to_int();
  }
  if (step == 0) runtime_error("range() arg 3 must not be zero");
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) {
      runtime_error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    out.emplace_back(i);
    if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
  }
  in.tick(out.size());
  return Value::list(std::move(out));
}

void check_name(const std::string& name) {
  if (!name.empty() && name[0] == '_') {
    runtime_error("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + name +
                  "'. Please rename the attribute.");
  }
}

Value make_namespace(Interpreter&, CallArgs& args) {
  auto ns = std::make_shared<Namespace>();
  auto put = [&](const Value& key, const Value& value) {
    if (value.is_namespace()) runtime_error("a namespace cannot hold another namespace");
    if (key.is_string()) check_name(key.as_string());
    for (auto& [k, v] : ns->attrs.items) {
      if (equals(k, key)) {
        v = value;
        return;
      }
    }
    ns->attrs.items.emplace_back(key, value);
  };
  if (args.positional.size() > 1) runtime_error("namespace() takes at most one positional argument");
  if (!args.positional.empty()) {
    const Value& init = args.positional[0];
    if (init.is_dict()) {
      for (const auto& [k, v] : init.as_dict().items) put(k, v);
    } else {
      for (const Value& pair : iterate(init)) {
        const std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) runtime_error("namespace() needs key/value pairs");
        put(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) put(Value(k), v);
  return Value(ns);
}

Value make_dict(Interpreter&, CallArgs& args) {
  std::vector<std::pair<Value, Value>> items;
  if (args.positional.size() > 1) runtime_error("dict expected at most 1 argument");
  if (!args.positional.empty()) {
    const Value& init = args.positional[0];
    if (init.is_dict()) {
      items = init.as_dict().items;
    } else {
      for (const Value& pair : iterate(init)) {
        const std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) runtime_error("dictionary update sequence element has wrong length");
        items.emplace_back(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) items.emplace_back(Value(k), v);
  return Value::dict(std::move(items));
}

Value raise_exception(Interpreter&, CallArgs& args) {
  const ArgReader r(args, "raise_exception", {"message"});
  throw Error("chat template raised an exception: " + to_str(r.get(0)));
}

Value strftime_now(Interpreter&, CallArgs& args) {
  const ArgReader r(args, "strftime_now", {"format"});
  const Value& f = r.get(0);
  if (!f.is_string()) runtime_error("strftime() argument 1 must be str, not " + type_name(f));
  if (f.as_string().size() > 1024) runtime_error("strftime format too long");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  // A sentinel character tells an empty expansion from a buffer that was too small.
  const std::string fmt = f.as_string() + "\x01";
  std::string buf(256 + fmt.size() * 16, '\0');
  const std::size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &local);
  if (n == 0) runtime_error("strftime output too long");
  buf.resize(n - 1);
  return Value(std::move(buf));
}

}  // namespace

std::vector<std::pair<std::string, Value>> global_variables() {
  return {
      {"range", Value::callable("range", range)},
      {"namespace", Value::callable("namespace", make_namespace)},
      {"dict", Value::callable("dict", make_dict)},
      {"raise_exception", Value::callable("raise_exception", raise_exception)},
      {"strftime_now", Value::callable("strftime_now", strftime_now)},
  };
}

}  // namespace pensieve::tokenizer::jinja
