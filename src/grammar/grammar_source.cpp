#include "grammar/grammar_source.h"

#include <set>

#include "common/error.h"
#include "grammar/constraint.h"

namespace pensieve::grammar {

nlohmann::ordered_json with_layout(const nlohmann::ordered_json& schema, bool lenient) {
  nlohmann::ordered_json out;
  if (schema.is_boolean()) {
    if (!schema.get<bool>()) throw Error("JSON schema `false` allows no value");
    out = nlohmann::ordered_json::object();
  } else if (schema.is_object()) {
    out = schema;
  } else {
    throw Error("a JSON schema must be an object or a boolean");
  }
  out["x-guidance"] = {{"whitespace_flexible", false},
                       {"item_separator", ", "},
                       {"key_separator", ": "},
                       {"lenient", lenient}};
  return out;
}

nlohmann::ordered_json tool_call_schema(const Tool& tool) {
  nlohmann::ordered_json arguments = tool.input_schema;
  if (arguments.is_null()) arguments = {{"type", "object"}};
  // "name" first: it decides which schema the arguments follow.
  return with_layout({{"type", "object"},
                      {"properties", {{"name", {{"const", tool.name}}}, {"arguments", arguments}}},
                      {"required", {"name", "arguments"}},
                      {"additionalProperties", false}},
                     /*lenient=*/true);
}

std::string tool_calls_lark(const std::vector<Tool>& tools, bool single_call) {
  if (tools.empty()) throw Error("tool calls need at least one tool");
  std::set<std::string> names;
  std::string alternatives;
  std::string rules;
  for (size_t i = 0; i < tools.size(); ++i) {
    const Tool& tool = tools[i];
    if (tool.name.empty()) throw Error("a tool has an empty name");
    if (!names.insert(tool.name).second) throw Error("tool name '" + tool.name + "' is repeated");
    const std::string rule = "tool_" + std::to_string(i);
    alternatives += (i ? " | " : "") + rule;
    rules += rule + ": %json " + tool_call_schema(tool).dump() + "\n";
  }
  // nlohmann's dump() escapes control characters and quotes, so each schema is one line of
  // valid JSON whatever the tool definitions hold.
  return std::string(single_call ? "start: call\n" : "start: call (SEP? call)*\n") + "call: \"" + kToolCallOpen + "\" (" +
         alternatives + ") \"" + kToolCallClose + "\"\n" + "SEP: /[ \\t\\r\\n]{1,8}/\n" + rules;
}

}  // namespace pensieve::grammar
