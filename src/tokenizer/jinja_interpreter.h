#pragma once
// Renders a parsed template. Scoping follows Jinja2: a for-loop iteration and a macro call open a
// new scope whose assignments do not leak out; `if` does not. Every run is bounded (steps, output
// size, call depth) so an adversarial template cannot hang the server or exhaust its stack.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace pensieve::tokenizer::jinja {

struct Limits {
  std::size_t max_output_bytes = 16u << 20;  // also the largest string or list a template may build
  std::size_t max_steps = 1'000'000;         // statements, loop iterations and filter items
  int max_depth = 400;                       // nested evaluations incl. macro calls
};

struct Frame {
  std::shared_ptr<Frame> parent;
  std::vector<std::pair<std::string, Value>> vars;
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value value);
};

class Interpreter {
 public:
  explicit Interpreter(Limits limits = {});
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders `body` with `variables` (the context) on top of the built-in globals.
  std::string render(const Body& body, std::vector<std::pair<std::string, Value>> variables);

  Value eval(const Expr& e);
  // Counts one unit of work against the step budget.
  void tick(std::size_t n = 1);
  void check_size(std::size_t bytes) const;
  const Limits& limits() const { return limits_; }
  // Calls a test by name (also used by select/reject filters).
  bool test(const std::string& name, const Value& v, CallArgs& args);
  Value filter(const std::string& name, const Value& v, CallArgs& args);

 private:
  enum class Flow { Normal, Break, Continue };
  struct DepthGuard;

  Flow exec(const Body& body);
  Flow exec(const Stmt& s);
  // Runs `body` with its output collected instead of written ({% set %} and {% filter %} blocks).
  std::string capture(const Body& body);
  void write(const std::string& text);
  Flow exec_for(const Stmt& s);
  void exec_set(const Stmt& s);
  Value make_macro(const Stmt& s);
  Value eval_filter(const Expr& e, const Value* block_input);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  CallArgs eval_args(const Expr& e, std::size_t first_arg);
  void assign_targets(Frame& frame, const std::vector<std::string>& targets, const Value& value);

  Limits limits_;
  std::shared_ptr<Frame> frame_;
  std::string* out_ = nullptr;
  std::size_t steps_ = 0;
  int depth_ = 0;
  int line_ = 0;
  // Frames captured by macros; their variables are cleared after rendering to break cycles.
  std::vector<std::shared_ptr<Frame>> captured_;
};

[[noreturn]] void runtime_error(const std::string& message);
// The error for using an undefined value.
[[noreturn]] void undefined_error(const Value& v);

}  // namespace pensieve::tokenizer::jinja
