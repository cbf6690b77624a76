#pragma once
// A ChatRequest as prompt token ids: the model's chat template over the messages (tools either
// through the template, when it takes them, or in Pensieve's built-in format), then the tokenizer.
#include <vector>

#include "api/chat.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::server {

std::string render_prompt(const api::ChatRequest& request, const tokenizer::Tokenizer& tokenizer,
                          const tokenizer::ChatTemplate& chat_template);
std::vector<int32_t> prompt_ids(const api::ChatRequest& request, const tokenizer::Tokenizer& tokenizer,
                                const tokenizer::ChatTemplate& chat_template);

}  // namespace pensieve::server
