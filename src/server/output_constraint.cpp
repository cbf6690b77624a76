#include "server/output_constraint.h"

#include "common/error.h"

namespace pensieve::server {

std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary(const tokenizer::Tokenizer& tokenizer,
                                                              int model_vocab_size) {
  auto vocab = std::make_shared<grammar::Vocabulary>();
  const auto n = static_cast<std::size_t>(model_vocab_size);
  vocab->token_bytes.resize(n);
  vocab->is_special.assign(n, true);  // ids past the tokenizer's (padding rows) never appear
  for (std::size_t id = 0; id < std::min(n, tokenizer.vocab_size()); ++id) {
    const auto t = static_cast<tokenizer::TokenId>(id);
    vocab->is_special[id] = tokenizer.is_special(t);
    vocab->token_bytes[id] = vocab->is_special[id] ? std::string() : tokenizer.token_bytes(t);
  }
  // The end of the output: the tokenizer's EOS (Phi-3: <|endoftext|>), one of the ids that
  // stop generation.
  const auto eos = tokenizer.eos_token() ? tokenizer.token_to_id(*tokenizer.eos_token()) : std::nullopt;
  const auto ids = tokenizer.eos_ids();
  vocab->eos_id = eos ? *eos : (ids.empty() ? -1 : ids.front());
  return vocab;
}

std::shared_ptr<const grammar::ConstraintFactory> output_constraint(
    const api::ChatRequest& request, const std::shared_ptr<const grammar::Vocabulary>& vocabulary) {
  try {
    if (!request.tools.empty() && request.tool_choice != api::ToolChoice::none) {
      std::vector<grammar::Tool> tools;
      for (const auto& t : request.tools)
        if (request.tool_choice != api::ToolChoice::tool || t.name == request.forced_tool)
          tools.push_back({t.name, nlohmann::ordered_json(t.input_schema)});
      const bool forced = request.tool_choice == api::ToolChoice::any || request.tool_choice == api::ToolChoice::tool;
      // A forced call is one call: the client asked for a tool to be used, and a model that
      // keeps adding calls (or random weights) would otherwise run into max_tokens mid-call.
      // Parallel calls remain open to tool_choice auto.
      const bool single = forced || !request.parallel_tool_calls;
      return grammar::ConstraintFactory::tool_calls(vocabulary, tools, forced, single);
    }
    switch (request.response_format) {
      case api::ResponseFormat::json_object: return grammar::ConstraintFactory::json_object(vocabulary);
      case api::ResponseFormat::json_schema:
        return grammar::ConstraintFactory::json_schema(vocabulary, nlohmann::ordered_json(request.response_schema));
      case api::ResponseFormat::text: break;
    }
  } catch (const Error& e) {
    throw api::ApiError(api::ErrorKind::invalid_request, e.what());
  }
  return nullptr;
}

}  // namespace pensieve::server
