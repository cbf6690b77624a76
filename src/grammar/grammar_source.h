#pragma once
// The grammar texts handed to llguidance: a JSON schema with Pensieve's layout options, and the
// Lark grammar of tool calls.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/vocabulary.h"

namespace pensieve::grammar {

// `schema` with llguidance's options added: compact single-line JSON (", " and ": "
// separators, no free whitespace), so that a weak or random model cannot pad forever; and,
// when `lenient`, keywords llguidance does not implement (uniqueItems, propertyNames, not,
// if/then, unknown formats) ignored rather than refused.
// Throws pensieve::Error when `schema` is neither an object nor a boolean.
nlohmann::ordered_json with_layout(const nlohmann::ordered_json& schema, bool lenient);

// The object a call carries: {"name": <tool.name>, "arguments": <valid for tool.input_schema>}.
// Lenient: clients such as Claude Code send their tools' schemas unasked, and a keyword the
// grammar cannot enforce must not refuse the whole request.
nlohmann::ordered_json tool_call_schema(const Tool& tool);

// Lark: one or more `<tool_call>OBJECT</tool_call>`, whitespace between, OBJECT one of the
// tools' call objects. Throws pensieve::Error for no tools, an empty or repeated name.
std::string tool_calls_lark(const std::vector<Tool>& tools, bool single_call = false);

}  // namespace pensieve::grammar
