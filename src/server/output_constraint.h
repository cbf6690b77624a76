#pragma once
// The grammar a request's output must follow: Pensieve's tool-call format when tools are
// offered (forced for tool_choice any/tool, lazy for auto), JSON for response_format
// json_object/json_schema, nothing otherwise.
#include <memory>

#include "api/chat.h"
#include "grammar/constraint.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::server {

// The model's tokens as the grammar sees them (built once per model).
std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary(const tokenizer::Tokenizer& tokenizer,
                                                              int model_vocab_size);

// Null when the request needs no grammar. Throws ApiError(invalid_request) for a schema the
// grammar cannot take.
std::shared_ptr<const grammar::ConstraintFactory> output_constraint(
    const api::ChatRequest& request, const std::shared_ptr<const grammar::Vocabulary>& vocabulary);

}  // namespace pensieve::server
