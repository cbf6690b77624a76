#include "api/tool_prompt.h"

namespace pensieve::api {
namespace {

// Attribute values are tool names and ids; a quote in one must not end the attribute early.
std::string attribute(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '"') {
      escaped += "&quot;";
    } else if (c == '&') {
      escaped += "&amp;";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// Written by hand rather than through nlohmann::json, whose objects sort their keys: the model
// should see "name" before "arguments", in the order it is asked to write them.
std::string describe_tool(const ToolDefinition& tool) {
  nlohmann::json schema = tool.input_schema.is_null() ? nlohmann::json::object() : tool.input_schema;
  return "{\"name\": " + nlohmann::json(tool.name).dump() +
         ", \"description\": " + nlohmann::json(tool.description).dump() +
         ", \"parameters\": " + schema.dump() + "}";
}

std::string render_tool_result(const ChatMessage& message) {
  std::string open = "<tool_result";
  if (!message.name.empty()) open += " name=\"" + attribute(message.name) + "\"";
  if (!message.tool_call_id.empty()) open += " id=\"" + attribute(message.tool_call_id) + "\"";
  if (message.is_error) open += " error=\"true\"";
  return open + ">" + message.content + "</tool_result>";
}

void append_merged(std::vector<ChatMessage>& out, const std::string& role, std::string content) {
  if (!out.empty() && out.back().role == role) {
    if (!out.back().content.empty() && !content.empty()) out.back().content += "\n\n";
    out.back().content += content;
    return;
  }
  ChatMessage message;
  message.role = role;
  message.content = std::move(content);
  out.push_back(std::move(message));
}

}  // namespace

std::string tool_call_prefix() { return "<tool_call>"; }
std::string tool_call_suffix() { return "</tool_call>"; }

std::string render_tool_call(const ToolCall& call) {
  nlohmann::json arguments = call.arguments.is_null() ? nlohmann::json::object() : call.arguments;
  return tool_call_prefix() + "{\"name\": " + nlohmann::json(call.name).dump() +
         ", \"arguments\": " + arguments.dump() + "}" + tool_call_suffix();
}

std::string tool_system_section(const ChatRequest& request) {
  if (request.tools.empty() || request.tool_choice == ToolChoice::none) return "";
  std::string section =
      "# Tools\n\n"
      "You can call the following tools. Each one is described by its name, what it does and "
      "the JSON Schema of its arguments:\n\n";
  for (const auto& tool : request.tools) section += describe_tool(tool) + "\n";
  section +=
      "\nTo call a tool, answer with exactly\n"
      "<tool_call>{\"name\": \"TOOL_NAME\", \"arguments\": ARGUMENTS}</tool_call>\n"
      "where ARGUMENTS is a JSON object that matches the tool's parameters. ";
  section += request.parallel_tool_calls
                 ? "To call several tools, write one <tool_call> after another. "
                 : "Call at most one tool per answer. ";
  section +=
      "Then stop: each result comes back in the next user turn as "
      "<tool_result name=\"TOOL_NAME\" id=\"CALL_ID\">RESULT</tool_result>.\n";
  switch (request.tool_choice) {
    case ToolChoice::any: section += "You must call at least one tool now.\n"; break;
    case ToolChoice::tool:
      section += "You must call the tool \"" + request.forced_tool + "\" now.\n";
      break;
    default: section += "Call a tool only when it helps; otherwise answer directly.\n"; break;
  }
  return section;
}

std::vector<ChatMessage> apply_tool_format(const ChatRequest& request) {
  std::vector<ChatMessage> out;
  std::string section = tool_system_section(request);
  bool section_placed = section.empty();
  for (const auto& message : request.messages) {
    if (message.role == "tool") {
      append_merged(out, "user", render_tool_result(message));
    } else if (message.role == "assistant") {
      std::string content = message.content;
      for (const auto& call : message.tool_calls) {
        if (!content.empty()) content += "\n";
        content += render_tool_call(call);
      }
      append_merged(out, "assistant", std::move(content));
    } else if (message.role == "system" && out.empty() && !section_placed) {
      std::string content = message.content;
      if (!content.empty()) content += "\n\n";
      append_merged(out, "system", content + section);
      section_placed = true;
    } else {
      append_merged(out, message.role, message.content);
    }
  }
  if (!section_placed) {
    ChatMessage system;
    system.role = "system";
    system.content = section;
    out.insert(out.begin(), std::move(system));
  }
  return out;
}

nlohmann::json template_messages(const ChatRequest& request) {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& message : request.messages) {
    nlohmann::json m = {{"role", message.role}, {"content", message.content}};
    if (!message.tool_calls.empty()) {
      nlohmann::json calls = nlohmann::json::array();
      for (const auto& call : message.tool_calls) {
        calls.push_back({{"id", call.id},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      }
      m["tool_calls"] = std::move(calls);
    }
    if (message.role == "tool") {
      m["tool_call_id"] = message.tool_call_id;
      if (!message.name.empty()) m["name"] = message.name;
    }
    messages.push_back(std::move(m));
  }
  return messages;
}

nlohmann::json template_tools(const ChatRequest& request) {
  nlohmann::json tools = nlohmann::json::array();
  if (request.tool_choice == ToolChoice::none) return tools;
  for (const auto& tool : request.tools) {
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", tool.name},
                       {"description", tool.description},
                       {"parameters", tool.input_schema.is_null() ? nlohmann::json::object()
                                                                  : tool.input_schema}}}});
  }
  return tools;
}

}  // namespace pensieve::api
