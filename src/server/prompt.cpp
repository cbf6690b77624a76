#include "server/prompt.h"

#include <mutex>

#include "api/tool_prompt.h"
#include "common/error.h"

namespace pensieve::server {
namespace {

nlohmann::ordered_json base_context(const tokenizer::Tokenizer& tokenizer) {
  nlohmann::ordered_json context;
  context["add_generation_prompt"] = true;
  context["bos_token"] = tokenizer.bos_token().value_or("");
  context["eos_token"] = tokenizer.eos_token().value_or("");
  return context;
}

// Some templates drop system messages without a word (Phi-3-mini-128k-instruct's, as published,
// renders only user and assistant turns) or refuse them. Rendering a probe tells which: without
// this, a client's whole system prompt and tool list would never reach the model.
bool renders_system_messages(const tokenizer::ChatTemplate& chat_template, const tokenizer::Tokenizer& tokenizer) {
  static std::mutex mutex;
  static std::string known_source;
  static bool known_answer = true;
  std::lock_guard lock(mutex);
  if (!known_source.empty() && known_source == chat_template.source()) return known_answer;
  constexpr std::string_view marker = "pensieve-system-probe-7f3a";
  auto context = base_context(tokenizer);
  context["messages"] = nlohmann::ordered_json::array(
      {{{"role", "system"}, {"content", marker}}, {{"role", "user"}, {"content", "hi"}}});
  bool renders = false;
  try {
    renders = chat_template.render(context).find(marker) != std::string::npos;
  } catch (const Error&) {
    renders = false;
  }
  known_source = chat_template.source();
  known_answer = renders;
  return renders;
}

// For a template without system turns: system text becomes user text, merged with the user turn
// next to it, so the system prompt (and the tool section in it) still comes first in the prompt.
std::vector<api::ChatMessage> fold_system_into_user(std::vector<api::ChatMessage> messages) {
  std::vector<api::ChatMessage> out;
  for (auto& m : messages) {
    if (m.role == "system") m.role = "user";
    if (!out.empty() && out.back().role == m.role) {
      if (!out.back().content.empty() && !m.content.empty()) out.back().content += "\n\n";
      out.back().content += m.content;
    } else {
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace

std::string render_prompt(const api::ChatRequest& request, const tokenizer::Tokenizer& tokenizer,
                          const tokenizer::ChatTemplate& chat_template) {
  if (request.raw_prompt) return *request.raw_prompt;
  auto context = base_context(tokenizer);
  const bool template_takes_tools = chat_template.source().find("tools") != std::string::npos;
  if (!request.tools.empty() && request.tool_choice != api::ToolChoice::none && template_takes_tools) {
    context["messages"] = nlohmann::ordered_json(api::template_messages(request));
    context["tools"] = nlohmann::ordered_json(api::template_tools(request));
  } else {
    auto formatted = api::apply_tool_format(request);
    if (!renders_system_messages(chat_template, tokenizer)) formatted = fold_system_into_user(std::move(formatted));
    auto messages = nlohmann::ordered_json::array();
    for (const auto& m : formatted) messages.push_back({{"role", m.role}, {"content", m.content}});
    context["messages"] = std::move(messages);
  }
  try {
    return chat_template.render(context);
  } catch (const Error& e) {
    throw api::ApiError(api::ErrorKind::invalid_request, std::string("the chat template rejected the conversation: ") + e.what());
  }
}

std::vector<int32_t> prompt_ids(const api::ChatRequest& request, const tokenizer::Tokenizer& tokenizer,
                                const tokenizer::ChatTemplate& chat_template) {
  if (request.prompt_token_ids) return *request.prompt_token_ids;  // /v1/completions given ids
  const auto text = render_prompt(request, tokenizer, chat_template);
  // A raw completion prompt gets BOS as the tokenizer config says; a rendered template writes
  // BOS itself where the model wants it (as transformers' apply_chat_template does).
  return tokenizer.encode(text, request.raw_prompt ? tokenizer.adds_bos_by_default() : false);
}

}  // namespace pensieve::server
