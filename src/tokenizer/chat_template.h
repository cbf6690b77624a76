#pragma once
// Renders a model's chat template (the Jinja2 `chat_template` of tokenizer_config.json) with the
// same output as transformers' `apply_chat_template(..., tokenize=False)`: the same Jinja subset,
// whitespace rules (trim_blocks, lstrip_blocks), filters (tojson as json.dumps) and globals
// (raise_exception, strftime_now, namespace).
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pensieve::tokenizer {

namespace jinja {
struct Stmt;
}

class ChatTemplate {
 public:
  // Parses; throws pensieve::Error with line/column on syntax errors.
  explicit ChatTemplate(std::string source);

  // context: {"messages": [...], "add_generation_prompt": bool, "bos_token": "...",
  // "eos_token": "...", "tools": [...] (optional), and any extra keys}. As apply_chat_template
  // does, keys whose value is null are dropped from messages, reasoning fields are aliased
  // (reasoning_content/thinking), and tools, documents and add_generation_prompt default to
  // None/None/false. Throws pensieve::Error on runtime errors, including raise_exception(msg).
  // The ordered_json overload keeps object key order, which tojson output depends on.
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::json& context) const;

  const std::string& source() const { return source_; }

  // Used when a model directory has no chat_template: Phi-3-mini's original template.
  static const std::string& builtin_phi3();

 private:
  std::string source_;
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Stmt>>> body_;
};

}  // namespace pensieve::tokenizer
