// Anthropic /v1/messages request bodies → ChatRequest.
#include <limits>
#include <set>
#include <unordered_map>

#include "api/anthropic.h"
#include "api/json_fields.h"
#include "common/error.h"

namespace pensieve::api::anthropic {
namespace {

using fields::expect_array;
using fields::expect_bool;
using fields::expect_object;
using fields::expect_string;
using fields::find;
using fields::join;
using fields::reject;
using nlohmann::json;

constexpr std::string_view kBlockSeparator = "\n\n";

void append_text(std::string& to, const std::string& text) {
  if (!to.empty() && !text.empty()) to += kBlockSeparator;
  to += text;
}

const std::string& block_type(const json& block, const std::string& path) {
  expect_object(block, path);
  const json* type = find(block, "type");
  if (!type) reject(join(path, "type"), "field required");
  return expect_string(*type, join(path, "type"));
}

const std::string& text_of(const json& block, const std::string& path) {
  const json* text = find(block, "text");
  if (!text) reject(join(path, "text"), "field required");
  return expect_string(*text, join(path, "text"));
}

[[noreturn]] void refuse_media(const std::string& type, const std::string& path) {
  reject(path, type == "image" ? "this model does not accept images (an \"image\" block)"
                               : "this model does not accept documents (a \"" + type + "\" block)");
}

bool is_media(const std::string& type) { return type == "image" || type == "document"; }

// Blocks a local model cannot use and a client may replay from an earlier answer: the model's
// hidden reasoning, and the calls and results of tools that run on Anthropic's servers.
bool is_droppable(const std::string& type) {
  if (type == "thinking" || type == "redacted_thinking" || type == "server_tool_use") return true;
  return type != "tool_result" && type.size() > 12 &&
         type.compare(type.size() - 12, 12, "_tool_result") == 0;
}

// A string, or a list of text blocks (system prompts, system messages, tool results).
std::string text_content(const json& content, const std::string& path, bool drop_billing) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) reject(path, "expected a string or a list of text blocks");
  std::string text;
  for (std::size_t i = 0; i < content.size(); ++i) {
    std::string at = join(path, i);
    const std::string& type = block_type(content[i], at);
    if (is_media(type)) refuse_media(type, at);
    if (type != "text") reject(join(at, "type"), "expected \"text\", got \"" + type + "\"");
    const std::string& block = text_of(content[i], at);
    if (drop_billing && is_billing_header(block)) continue;
    append_text(text, block);
  }
  return text;
}

ToolCall parse_tool_use(const json& block, const std::string& path) {
  ToolCall call;
  const json* id = find(block, "id");
  if (!id) reject(join(path, "id"), "field required");
  call.id = expect_string(*id, join(path, "id"));
  const json* name = find(block, "name");
  if (!name) reject(join(path, "name"), "field required");
  call.name = expect_string(*name, join(path, "name"));
  const json* input = find(block, "input");
  call.arguments = input ? expect_object(*input, join(path, "input")) : json::object();
  return call;
}

ChatMessage parse_tool_result(const json& block, const std::string& path,
                              const std::unordered_map<std::string, std::string>& tool_names) {
  ChatMessage message;
  message.role = "tool";
  const json* id = find(block, "tool_use_id");
  if (!id) reject(join(path, "tool_use_id"), "field required");
  message.tool_call_id = expect_string(*id, join(path, "tool_use_id"));
  if (auto it = tool_names.find(message.tool_call_id); it != tool_names.end()) {
    message.name = it->second;
  }
  if (const json* content = find(block, "content")) {
    message.content = text_content(*content, join(path, "content"), false);
  }
  if (const json* is_error = find(block, "is_error")) {
    message.is_error = expect_bool(*is_error, join(path, "is_error"));
  }
  return message;
}

// One entry of `messages`, appended to `out` as one message, or for a user turn with tool
// results, one "tool" message per result followed by the turn's text.
void parse_message(const json& entry, const std::string& path, std::vector<ChatMessage>& out,
                   std::unordered_map<std::string, std::string>& tool_names) {
  expect_object(entry, path);
  const json* role_field = find(entry, "role");
  if (!role_field) reject(join(path, "role"), "field required");
  const std::string& role = expect_string(*role_field, join(path, "role"));
  if (role != "user" && role != "assistant" && role != "system") {
    reject(join(path, "role"), "expected \"user\" or \"assistant\", got \"" + role + "\"");
  }
  const json* content = find(entry, "content");
  std::string content_path = join(path, "content");
  if (!content) reject(content_path, "field required");

  ChatMessage message;
  message.role = role;
  if (role == "system") {
    message.content = text_content(*content, content_path, false);
    out.push_back(std::move(message));
    return;
  }
  if (content->is_string()) {
    message.content = content->get<std::string>();
    out.push_back(std::move(message));
    return;
  }
  if (!content->is_array()) reject(content_path, "expected a string or a list of content blocks");

  bool had_results = false;
  for (std::size_t i = 0; i < content->size(); ++i) {
    const json& block = (*content)[i];
    std::string at = join(content_path, i);
    const std::string& type = block_type(block, at);
    if (type == "text") {
      append_text(message.content, text_of(block, at));
    } else if (type == "tool_use") {
      if (role != "assistant") reject(at, "tool_use blocks belong in assistant messages");
      ToolCall call = parse_tool_use(block, at);
      tool_names[call.id] = call.name;
      message.tool_calls.push_back(std::move(call));
    } else if (type == "tool_result") {
      if (role != "user") reject(at, "tool_result blocks belong in user messages");
      out.push_back(parse_tool_result(block, at, tool_names));
      had_results = true;
    } else if (is_media(type)) {
      refuse_media(type, at);
    } else if (!is_droppable(type)) {
      reject(join(at, "type"), "unsupported content block type \"" + type + "\"");
    }
  }
  // A user turn made only of tool results adds no empty user message after them.
  if (!(had_results && message.content.empty())) out.push_back(std::move(message));
}

std::vector<ToolDefinition> parse_tools(const json& tools) {
  expect_array(tools, "tools");
  std::vector<ToolDefinition> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    std::string at = join("tools", i);
    const json& tool = expect_object(tools[i], at);
    if (const json* type = find(tool, "type")) {
      // Server tools (web_search_20250305, …) run at Anthropic; here they are not available.
      if (expect_string(*type, join(at, "type")) != "custom") continue;
    }
    ToolDefinition definition;
    const json* name = find(tool, "name");
    if (!name) reject(join(at, "name"), "field required");
    definition.name = expect_string(*name, join(at, "name"));
    if (definition.name.empty()) reject(join(at, "name"), "must not be empty");
    if (!names.insert(definition.name).second) {
      reject(join(at, "name"), "tool names must be unique, \"" + definition.name + "\" repeats");
    }
    if (const json* description = find(tool, "description")) {
      definition.description = expect_string(*description, join(at, "description"));
    }
    const json* schema = find(tool, "input_schema");
    if (!schema) reject(join(at, "input_schema"), "field required");
    definition.input_schema = expect_object(*schema, join(at, "input_schema"));
    out.push_back(std::move(definition));
  }
  return out;
}

void parse_tool_choice(const json& choice, ChatRequest& request) {
  expect_object(choice, "tool_choice");
  const std::string& type = block_type(choice, "tool_choice");
  if (const json* disable = find(choice, "disable_parallel_tool_use")) {
    request.parallel_tool_calls = !expect_bool(*disable, "tool_choice.disable_parallel_tool_use");
  }
  if (type == "auto") {
    request.tool_choice = ToolChoice::auto_;
  } else if (type == "none") {
    request.tool_choice = ToolChoice::none;
  } else if (type == "any" || type == "tool") {
    if (request.tools.empty()) reject("tool_choice", "\"" + type + "\" needs at least one tool");
    request.tool_choice = type == "any" ? ToolChoice::any : ToolChoice::tool;
    if (type == "tool") {
      const json* name = find(choice, "name");
      if (!name) reject("tool_choice.name", "field required");
      request.forced_tool = expect_string(*name, "tool_choice.name");
      bool known = false;
      for (const auto& tool : request.tools) known = known || tool.name == request.forced_tool;
      if (!known) reject("tool_choice.name", "no tool named \"" + request.forced_tool + "\"");
    }
  } else {
    reject("tool_choice.type",
           "expected \"auto\", \"any\", \"tool\" or \"none\", got \"" + type + "\"");
  }
}

void parse_sampling(const json& body, ChatRequest& request) {
  auto& sampling = request.sampling;
  if (const json* v = find(body, "temperature")) {
    sampling.temperature = static_cast<float>(fields::expect_number_in(*v, "temperature", 0, 1));
  }
  if (const json* v = find(body, "top_p")) {
    double top_p = fields::expect_number_in(*v, "top_p", 0, 1);
    if (top_p <= 0) reject("top_p", "expected a number in (0, 1], got 0");
    sampling.top_p = static_cast<float>(top_p);
  }
  if (const json* v = find(body, "top_k")) {
    sampling.top_k = static_cast<int>(
        fields::expect_integer(*v, "top_k", 0, std::numeric_limits<int>::max()));
  }
  if (const json* v = find(body, "stop_sequences")) {
    expect_array(*v, "stop_sequences");
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string& stop = expect_string((*v)[i], join("stop_sequences", i));
      if (stop.empty()) reject(join("stop_sequences", i), "must not be empty");
      request.stop.push_back(stop);
    }
  }
  try {
    sampling.validate();
  } catch (const pensieve::Error& e) {
    throw ApiError(ErrorKind::invalid_request, e.what());
  }
}

ChatRequest parse(const json& body, bool max_tokens_required) {
  if (!body.is_object()) {
    throw ApiError(ErrorKind::invalid_request, "the request body must be a JSON object");
  }
  ChatRequest request;
  const json* model = find(body, "model");
  if (!model) reject("model", "field required");
  request.model = expect_string(*model, "model");

  if (const json* max_tokens = find(body, "max_tokens")) {
    request.max_tokens = static_cast<int>(
        fields::expect_integer(*max_tokens, "max_tokens", 1, std::numeric_limits<int>::max()));
  } else if (max_tokens_required) {
    reject("max_tokens", "field required");
  }

  if (const json* system = find(body, "system")) {
    std::string text = text_content(*system, "system", true);
    if (!text.empty()) request.messages.push_back(ChatMessage{"system", text, {}, "", "", false});
  }

  const json* messages = find(body, "messages");
  if (!messages) reject("messages", "field required");
  expect_array(*messages, "messages");
  if (messages->empty()) reject("messages", "at least one message is required");
  std::unordered_map<std::string, std::string> tool_names;  // tool_use id → tool name
  for (std::size_t i = 0; i < messages->size(); ++i) {
    parse_message((*messages)[i], join("messages", i), request.messages, tool_names);
  }

  if (const json* tools = find(body, "tools")) request.tools = parse_tools(*tools);
  if (const json* choice = find(body, "tool_choice")) parse_tool_choice(*choice, request);
  if (const json* stream = find(body, "stream")) request.stream = expect_bool(*stream, "stream");
  parse_sampling(body, request);
  return request;
}

}  // namespace

bool is_billing_header(std::string_view system_text) {
  return system_text.starts_with("x-anthropic-billing-header");
}

ChatRequest parse_messages_request(const nlohmann::json& body) { return parse(body, true); }

ChatRequest parse_count_tokens_request(const nlohmann::json& body) {
  return parse(body, false);
}

}  // namespace pensieve::api::anthropic
