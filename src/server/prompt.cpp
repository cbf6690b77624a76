#include "server/prompt.h"

#include "api/tool_prompt.h"
#include "common/error.h"

namespace pensieve::server {

std::string render_prompt(const api::ChatRequest& request, const tokenizer::Tokenizer& tokenizer,
                          const tokenizer::ChatTemplate& chat_template) {
  if (request.raw_prompt) return *request.raw_prompt;
  nlohmann::ordered_json context;
  const bool template_takes_tools = chat_template.source().find("tools") != std::string::npos;
  if (!request.tools.empty() && request.tool_choice != api::ToolChoice::none && template_takes_tools) {
    context["messages"] = nlohmann::ordered_json(api::template_messages(request));
    context["tools"] = nlohmann::ordered_json(api::template_tools(request));
  } else {
    auto messages = nlohmann::ordered_json::array();
    for (const auto& m : api::apply_tool_format(request))
      messages.push_back({{"role", m.role}, {"content", m.content}});
    context["messages"] = std::move(messages);
  }
  context["add_generation_prompt"] = true;
  context["bos_token"] = tokenizer.bos_token().value_or("");
  context["eos_token"] = tokenizer.eos_token().value_or("");
  try {
    return chat_template.render(context);
  } catch (const Error& e) {
    throw api::ApiError(api::ErrorKind::invalid_request, std::string("the chat template rejected the conversation: ") + e.what());
  }
}

std::vector<int32_t> prompt_ids(const api::ChatRequest& request, const tokenizer::Tokenizer& tokenizer,
                                const tokenizer::ChatTemplate& chat_template) {
  const auto text = render_prompt(request, tokenizer, chat_template);
  // A raw completion prompt gets BOS as the tokenizer config says; a rendered template writes
  // BOS itself where the model wants it (as transformers' apply_chat_template does).
  return tokenizer.encode(text, request.raw_prompt ? tokenizer.adds_bos_by_default() : false);
}

}  // namespace pensieve::server
