#include "tokenizer/jinja_interpreter.h"

#include "common/error.h"
#include "tokenizer/jinja_builtins.h"

namespace pensieve::tokenizer::jinja {

void runtime_error(const std::string& message) { throw Error("chat template error: " + message); }

void undefined_error(const Value& v) {
  runtime_error(v.is_undefined() && !v.undefined_hint().empty() ? v.undefined_hint() : "value is undefined");
}

const Value* Frame::find(const std::string& name) const {
  for (const Frame* f = this; f; f = f->parent.get()) {
    for (const auto& [k, v] : f->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Frame::set(const std::string& name, Value value) {
  for (auto& [k, v] : vars) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

struct Interpreter::DepthGuard {
  explicit DepthGuard(Interpreter& in) : in_(in) {
    if (++in_.depth_ > in_.limits_.max_depth) runtime_error("recursion too deep");
  }
  ~DepthGuard() { --in_.depth_; }
  Interpreter& in_;
};

Interpreter::Interpreter(Limits limits) : limits_(limits) {}

Interpreter::~Interpreter() {
  // Macros hold their defining frame, which may hold the macro: clear to free both.
  for (auto& f : captured_) {
    for (Frame* p = f.get(); p; p = p->parent.get()) p->vars.clear();
  }
}

void Interpreter::tick(std::size_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) runtime_error("template ran too long (step limit reached)");
}

void Interpreter::check_size(std::size_t bytes) const {
  if (bytes > limits_.max_output_bytes) runtime_error("output too large");
}

std::string Interpreter::render(const Body& body, std::vector<std::pair<std::string, Value>> variables) {
  frame_ = std::make_shared<Frame>();
  for (auto& [k, v] : global_variables()) frame_->set(k, std::move(v));
  for (auto& [k, v] : variables) frame_->set(k, std::move(v));
  std::string out;
  out_ = &out;
  try {
    exec(body);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (template line " + std::to_string(line_) + ")");
  }
  out_ = nullptr;
  return out;
}

void Interpreter::write(const std::string& text) {
  check_size(out_->size() + text.size());
  *out_ += text;
}

Interpreter::Flow Interpreter::exec(const Body& body) {
  for (const auto& s : body) {
    const Flow f = exec(*s);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

std::string Interpreter::capture(const Body& body) {
  std::string captured;
  std::string* saved = out_;
  out_ = &captured;
  try {
    exec(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return captured;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  DepthGuard guard(*this);
  tick();
  line_ = s.line;
  switch (s.kind) {
    case StmtKind::Text:
      write(s.text);
      return Flow::Normal;
    case StmtKind::Output: {
      const Value v = eval(*s.expr);
      line_ = s.line;
      write(to_str(v));
      return Flow::Normal;
    }
    case StmtKind::If:
      for (const auto& [cond, body] : s.branches) {
        if (!cond || truthy(eval(*cond))) return exec(body);
      }
      return Flow::Normal;
    case StmtKind::For:
      return exec_for(s);
    case StmtKind::Set:
      exec_set(s);
      return Flow::Normal;
    case StmtKind::SetBlock: {
      Value v(capture(s.body));
      if (s.filter) v = eval_filter(*s.filter, &v);
      frame_->set(s.targets[0], std::move(v));
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      const Value input(capture(s.body));
      write(to_str(eval_filter(*s.filter, &input)));
      return Flow::Normal;
    }
    case StmtKind::Macro:
      frame_->set(s.text, make_macro(s));
      return Flow::Normal;
    case StmtKind::Break:
      return Flow::Break;
    case StmtKind::Continue:
      return Flow::Continue;
    case StmtKind::Scope:
      return exec(s.body);
  }
  return Flow::Normal;
}

void Interpreter::assign_targets(Frame& frame, const std::vector<std::string>& targets, const Value& value) {
  if (targets.size() == 1) {
    frame.set(targets[0], value);
    return;
  }
  const std::vector<Value> items = iterate(value);
  if (value.is_undefined() || value.is_dict()) runtime_error("cannot unpack " + type_name(value));
  if (items.size() != targets.size()) {
    runtime_error(items.size() > targets.size()
                      ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
                      : "not enough values to unpack (expected " + std::to_string(targets.size()) + ", got " +
                            std::to_string(items.size()) + ")");
  }
  for (std::size_t i = 0; i < targets.size(); ++i) frame.set(targets[i], items[i]);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  const Value iterable = eval(*s.expr);
  if (iterable.is_none() || iterable.is_number() || iterable.is_callable() || iterable.is_namespace()) {
    runtime_error(std::string("'") + type_name(iterable) + "' object is not iterable");
  }
  std::vector<Value> items = iterate(iterable);
  std::shared_ptr<Frame> outer = frame_;
  if (s.filter) {
    std::vector<Value> kept;
    for (auto& item : items) {
      tick();
      frame_ = std::make_shared<Frame>();
      frame_->parent = outer;
      assign_targets(*frame_, s.targets, item);
      const bool keep = truthy(eval(*s.filter));
      frame_ = outer;
      if (keep) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(s.else_body);
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    tick();
    auto frame = std::make_shared<Frame>();
    frame->parent = outer;
    assign_targets(*frame, s.targets, items[static_cast<std::size_t>(i)]);
    std::vector<std::pair<Value, Value>> loop = {
        {Value("index0"), Value(i)},
        {Value("index"), Value(i + 1)},
        {Value("revindex0"), Value(n - i - 1)},
        {Value("revindex"), Value(n - i)},
        {Value("first"), Value(i == 0)},
        {Value("last"), Value(i == n - 1)},
        {Value("length"), Value(n)},
        {Value("depth"), Value(1)},
        {Value("depth0"), Value(0)},
    };
    if (i > 0) loop.emplace_back(Value("previtem"), items[static_cast<std::size_t>(i - 1)]);
    if (i + 1 < n) loop.emplace_back(Value("nextitem"), items[static_cast<std::size_t>(i + 1)]);
    loop.emplace_back(Value("cycle"), Value::callable("cycle", [i](Interpreter&, CallArgs& a) -> Value {
                        if (a.positional.empty()) runtime_error("no items for cycling given");
                        return a.positional[static_cast<std::size_t>(i) % a.positional.size()];
                      }));
    frame->set("loop", Value::dict(std::move(loop)));
    frame_ = frame;
    Flow f;
    try {
      f = exec(s.body);
    } catch (...) {
      frame_ = outer;
      throw;
    }
    frame_ = outer;
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interpreter::exec_set(const Stmt& s) {
  Value v = eval(*s.expr);
  if (s.attribute.empty()) {
    assign_targets(*frame_, s.targets, v);
    return;
  }
  const Value* target = frame_->find(s.targets[0]);
  if (!target || !target->is_namespace()) runtime_error("cannot assign attribute on non-namespace object");
  if (!s.attribute.empty() && s.attribute[0] == '_') {
    runtime_error("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
                  s.attribute + "'");
  }
  // A namespace holding a namespace could form a cycle; no real template needs one.
  std::vector<const Value*> stack = {&v};
  while (!stack.empty()) {
    const Value* cur = stack.back();
    stack.pop_back();
    if (cur->is_namespace()) runtime_error("a namespace cannot hold another namespace");
    if (cur->is_list()) {
      for (const auto& x : cur->as_list().items) stack.push_back(&x);
    } else if (cur->is_dict()) {
      for (const auto& [k, x] : cur->as_dict().items) stack.push_back(&x);
    }
  }
  Dict& attrs = target->as_namespace().attrs;
  for (auto& [k, val] : attrs.items) {
    if (k.is_string() && k.as_string() == s.attribute) {
      val = std::move(v);
      return;
    }
  }
  attrs.items.emplace_back(Value(s.attribute), std::move(v));
}

Value Interpreter::make_macro(const Stmt& s) {
  captured_.push_back(frame_);
  std::weak_ptr<Frame> defining = frame_;
  const Stmt* macro = &s;
  return Value::callable(s.text, [macro, defining](Interpreter& in, CallArgs& args) -> Value {
    const std::size_t n_params = macro->params.size();
    if (args.positional.size() > n_params) {
      runtime_error("macro '" + macro->text + "' takes not more than " + std::to_string(n_params) +
                    " argument(s)");
    }
    auto frame = std::make_shared<Frame>();
    frame->parent = defining.lock();
    std::vector<bool> bound(n_params, false);
    for (std::size_t i = 0; i < args.positional.size(); ++i) {
      frame->set(macro->params[i].first, args.positional[i]);
      bound[i] = true;
    }
    for (auto& [key, value] : args.keyword) {
      std::size_t i = 0;
      while (i < n_params && macro->params[i].first != key) ++i;
      if (i == n_params) runtime_error("macro '" + macro->text + "' has no argument named '" + key + "'");
      if (bound[i]) runtime_error("macro '" + macro->text + "' got multiple values for argument '" + key + "'");
      frame->set(key, value);
      bound[i] = true;
    }
    std::shared_ptr<Frame> saved_frame = in.frame_;
    std::string* saved_out = in.out_;
    std::string captured;
    in.frame_ = frame;
    in.out_ = &captured;
    try {
      DepthGuard guard(in);
      for (std::size_t i = 0; i < n_params; ++i) {
        if (bound[i]) continue;
        const auto& def = macro->params[i].second;
        frame->set(macro->params[i].first,
                   def ? in.eval(*def) : Value::undefined("parameter '" + macro->params[i].first + "' was not provided"));
      }
      in.exec(macro->body);
    } catch (...) {
      in.frame_ = saved_frame;
      in.out_ = saved_out;
      throw;
    }
    in.frame_ = saved_frame;
    in.out_ = saved_out;
    return Value(std::move(captured));
  });
}

CallArgs Interpreter::eval_args(const Expr& e, std::size_t first_arg) {
  CallArgs args;
  for (std::size_t i = first_arg; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
  for (const auto& [k, v] : e.keywords) args.keyword.emplace_back(k, eval(*v));
  return args;
}

bool Interpreter::test(const std::string& name, const Value& v, CallArgs& args) {
  return call_test(*this, name, v, args);
}

Value Interpreter::filter(const std::string& name, const Value& v, CallArgs& args) {
  return call_filter(*this, name, v, args);
}

Value Interpreter::eval_filter(const Expr& e, const Value* block_input) {
  DepthGuard guard(*this);
  Value input;
  if (e.children[0]) {
    input = e.children[0]->kind == ExprKind::Filter ? eval_filter(*e.children[0], block_input) : eval(*e.children[0]);
  } else {
    input = *block_input;
  }
  CallArgs args = eval_args(e, 1);
  return call_filter(*this, e.name, input, args);
}

Value Interpreter::eval_binary(const Expr& e) {
  const std::string& op = e.name;
  if (op == "and") {
    Value left = eval(*e.children[0]);
    return truthy(left) ? eval(*e.children[1]) : left;
  }
  if (op == "or") {
    Value left = eval(*e.children[0]);
    return truthy(left) ? left : eval(*e.children[1]);
  }
  const Value left = eval(*e.children[0]);
  const Value right = eval(*e.children[1]);
  return binary_op(op, left, right, limits_);
}

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (std::size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.children[i + 1]);
    const std::string& op = e.ops[i];
    bool ok;
    if (op == "in") {
      ok = contains(right, left);
    } else if (op == "not in") {
      ok = !contains(right, left);
    } else {
      ok = compare(op, left, right);
    }
    if (!ok) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval(const Expr& e) {
  DepthGuard guard(*this);
  switch (e.kind) {
    case ExprKind::Literal:
      return e.value;
    case ExprKind::Name: {
      const Value* v = frame_->find(e.name);
      return v ? *v : Value::undefined(std::string("'") + e.name + "' is undefined");
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      for (const auto& c : e.children) items.push_back(eval(*c));
      return Value::list(std::move(items), e.kind == ExprKind::Tuple);
    }
    case ExprKind::Dict: {
      std::vector<std::pair<Value, Value>> items;
      for (const auto& [k, v] : e.pairs) {
        Value key = eval(*k);
        if (key.is_list() && !key.is_tuple()) runtime_error("unhashable type: 'list'");
        if (key.is_dict()) runtime_error("unhashable type: 'dict'");
        items.emplace_back(std::move(key), eval(*v));
      }
      return Value::dict(std::move(items));
    }
    case ExprKind::Getattr:
      return get_attr(eval(*e.children[0]), e.name);
    case ExprKind::Getitem: {
      const Value obj = eval(*e.children[0]);
      return get_item(obj, eval(*e.children[1]));
    }
    case ExprKind::Slice: {
      const Value obj = eval(*e.children[0]);
      auto part = [&](std::size_t i) { return e.children[i] ? eval(*e.children[i]) : Value(None{}); };
      const Value start = part(1);
      const Value stop = part(2);
      const Value step = part(3);
      return get_slice(obj, start, stop, step);
    }
    case ExprKind::Call: {
      const Value callee = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      if (callee.is_undefined()) undefined_error(callee);
      if (!callee.is_callable()) runtime_error(std::string("'") + type_name(callee) + "' object is not callable");
      return callee.as_callable().fn(*this, args);
    }
    case ExprKind::Filter:
      return eval_filter(e, nullptr);
    case ExprKind::Test: {
      const Value v = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      const bool r = call_test(*this, e.name, v, args);
      return Value(e.negated ? !r : r);
    }
    case ExprKind::Unary: {
      const Value v = eval(*e.children[0]);
      if (e.name == "not") return Value(!truthy(v));
      if (e.name == "-") return negate(v);
      if (!v.is_number()) runtime_error("bad operand type for unary +: '" + type_name(v) + "'");
      return v.is_bool() ? Value(v.to_int()) : v;
    }
    case ExprKind::Binary:
      return eval_binary(e);
    case ExprKind::Compare:
      return eval_compare(e);
    case ExprKind::Condition: {
      if (truthy(eval(*e.children[1]))) return eval(*e.children[0]);
      if (e.children[2]) return eval(*e.children[2]);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
  }
  return Value();
}

}  // namespace pensieve::tokenizer::jinja
