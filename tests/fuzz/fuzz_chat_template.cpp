// libFuzzer target: parses and renders arbitrary template text with a fixed context. Errors
// (pensieve::Error) are expected; crashes, hangs, stack overflows and other exceptions are bugs.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/chat_template.h"

namespace {

const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json kContext = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi \u00e9 \ud83c\udf89"},
      {"role": "assistant", "content": "Hello", "tool_calls": [
        {"id": "call12345", "type": "function",
         "function": {"name": "f", "arguments": {"a": 1, "b": [true, null, 2.5]}}}]},
      {"role": "tool", "tool_call_id": "call12345", "content": "{\"ok\": 1}"}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "add_generation_prompt": true,
    "bos_token": "<s>",
    "eos_token": "</s>"
  })");
  return kContext;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    const pensieve::tokenizer::ChatTemplate chat_template(source);
    (void)chat_template.render(context());
  } catch (const pensieve::Error&) {
  }
  return 0;
}
