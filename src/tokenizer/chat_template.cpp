#include "tokenizer/chat_template.h"

#include "common/error.h"
#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_unicode.h"

namespace pensieve::tokenizer {

namespace {

using jinja::Value;

// apply_chat_template's message preparation: drop None-valued keys, then alias the reasoning
// fields the way transformers does ({"thinking": r, **message, "reasoning_content": r}).
nlohmann::ordered_json prepare_message(const nlohmann::ordered_json& message) {
  if (!message.is_object()) throw Error("chat template context: each message must be a JSON object");
  nlohmann::ordered_json cleaned = nlohmann::ordered_json::object();
  for (const auto& [k, v] : message.items()) {
    if (!v.is_null()) cleaned[k] = v;
  }
  const nlohmann::ordered_json* reasoning = nullptr;
  for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
    if (cleaned.contains(key)) {
      reasoning = &cleaned[key];
      break;
    }
  }
  if (!reasoning) return cleaned;
  nlohmann::ordered_json aliased = nlohmann::ordered_json::object();
  aliased["thinking"] = *reasoning;
  for (const auto& [k, v] : cleaned.items()) aliased[k] = (k == "thinking") ? *reasoning : v;
  aliased["reasoning_content"] = *reasoning;
  return aliased;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source) : source_(std::move(source)) {
  if (!jinja::utf8_valid(source_)) throw Error("chat template is not valid UTF-8");
  const std::vector<jinja::Token> tokens = jinja::lex(source_);
  body_ = std::make_shared<const jinja::Body>(jinja::parse(tokens));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) throw Error("chat template context must be a JSON object");
  std::vector<std::pair<std::string, Value>> variables;
  variables.emplace_back("tools", Value(jinja::None{}));
  variables.emplace_back("documents", Value(jinja::None{}));
  variables.emplace_back("add_generation_prompt", Value(false));
  for (const auto& [key, value] : context.items()) {
    if (key == "messages" && value.is_array()) {
      nlohmann::ordered_json messages = nlohmann::ordered_json::array();
      for (const auto& m : value) messages.push_back(prepare_message(m));
      variables.emplace_back(key, Value::from_json(messages));
    } else {
      variables.emplace_back(key, Value::from_json(value));
    }
  }
  jinja::Interpreter interpreter;
  return interpreter.render(*body_, std::move(variables));
}

std::string ChatTemplate::render(const nlohmann::json& context) const {
  try {
    return render(nlohmann::ordered_json::parse(context.dump()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("chat template context: ") + e.what());
  }
}

const std::string& ChatTemplate::builtin_phi3() {
  // tokenizer.chat_template of the Phi-3 vocabulary GGUF (tests/fixtures/phi3-vocab); the quoted
  // '\n' below are real newlines inside the template's string literals.
  static const std::string kPhi3 =
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
      "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
      "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}"
      "{% endif %}{% endfor %}";
  return kPhi3;
}

}  // namespace pensieve::tokenizer
