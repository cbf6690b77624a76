// ChatTemplate: the built-in Phi-3 template and apply_chat_template's message preparation.
// Expected texts are transformers' apply_chat_template outputs for the same inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "tokenizer/chat_template.h"

namespace {

using pensieve::tokenizer::ChatTemplate;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ChatTemplate, BuiltinPhi3IsTheGgufTemplate) {
  // phi3-mini-gguf.jinja is extracted from the GGUF fixture; pytest checks that extraction.
  EXPECT_EQ(ChatTemplate::builtin_phi3(),
            read_file(std::string(PENSIEVE_SOURCE_DIR) + "/tests/python/chat_templates/phi3-mini-gguf.jinja"));
}

TEST(ChatTemplate, RendersPhi3Conversation) {
  const ChatTemplate t(ChatTemplate::builtin_phi3());
  const auto context = nlohmann::json::parse(R"({"messages": [
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
      {"role": "user", "content": "Bye"}], "bos_token": "<s>", "eos_token": "<|endoftext|>",
      "add_generation_prompt": true})");
  EXPECT_EQ(t.render(context),
            "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, DropsNullKeysAndDefaultsToolsToNone) {
  const ChatTemplate t("{% for m in messages %}{{ m }}{% endfor %}|{{ tools }}|{{ add_generation_prompt }}");
  const auto context = nlohmann::ordered_json::parse(R"({"messages": [{"role": "user", "content": "x", "name": null}]})");
  EXPECT_EQ(t.render(context), "{'role': 'user', 'content': 'x'}|None|False");
}

TEST(ChatTemplate, AliasesReasoningFieldsLikeTransformers) {
  const ChatTemplate t("{{ messages[0] }}");
  const auto context = nlohmann::ordered_json::parse(R"({"messages": [{"role": "assistant", "content": "a", "reasoning": "r"}]})");
  EXPECT_EQ(t.render(context), "{'thinking': 'r', 'role': 'assistant', 'content': 'a', 'reasoning': 'r', 'reasoning_content': 'r'}");
}

TEST(ChatTemplate, RejectsInvalidUtf8Source) {
  EXPECT_THROW(ChatTemplate(std::string("{{ '\xff' }}")), pensieve::Error);
}

}  // namespace
