// OpenAI /v1/chat/completions and /v1/completions request bodies → ChatRequest.
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include "api/json_fields.h"
#include "api/openai.h"
#include "common/error.h"

namespace pensieve::api::openai {
namespace {

using fields::expect_array;
using fields::expect_bool;
using fields::expect_integer;
using fields::expect_number_in;
using fields::expect_object;
using fields::expect_string;
using fields::find;
using fields::join;
using fields::reject;
using nlohmann::json;

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

const std::string& required_string(const json& object, std::string_view key,
                                   const std::string& path) {
  const json* value = find(object, key);
  if (!value) reject(join(path, key), "field required");
  return expect_string(*value, join(path, key));
}

// A string or a list of content parts; only text (and, from the assistant, refusal) parts can be
// read by this model.
std::string text_content(const json& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) reject(path, "expected a string or a list of content parts");
  std::string text;
  for (std::size_t i = 0; i < content.size(); ++i) {
    std::string at = join(path, i);
    const json& part = expect_object(content[i], at);
    const std::string& type = required_string(part, "type", at);
    if (type == "text") {
      text += required_string(part, "text", at);
    } else if (type == "refusal") {
      text += required_string(part, "refusal", at);
    } else if (type == "image_url") {
      reject(at, "this model does not accept images (an \"image_url\" part)");
    } else if (type == "input_audio" || type == "file") {
      reject(at, "this model does not accept " +
                     std::string(type == "file" ? "files" : "audio") + " (an \"" + type +
                     "\" part)");
    } else {
      reject(join(at, "type"), "unsupported content part type \"" + type + "\"");
    }
  }
  return text;
}

ToolCall parse_assistant_tool_call(const json& entry, const std::string& path) {
  expect_object(entry, path);
  ToolCall call;
  call.id = required_string(entry, "id", path);
  if (const json* type = find(entry, "type")) {
    if (expect_string(*type, join(path, "type")) != "function") {
      reject(join(path, "type"), "expected \"function\"");
    }
  }
  const json* function = find(entry, "function");
  std::string function_path = join(path, "function");
  if (!function) reject(function_path, "field required");
  expect_object(*function, function_path);
  call.name = required_string(*function, "name", function_path);
  call.arguments = json::object();
  if (const json* arguments = find(*function, "arguments")) {
    std::string at = join(function_path, "arguments");
    const std::string& text = expect_string(*arguments, at);
    if (!text.empty()) {
      call.arguments = json::parse(text, nullptr, false);
      if (call.arguments.is_discarded()) reject(at, "not valid JSON");
      if (!call.arguments.is_object()) reject(at, "expected a JSON object");
    }
  }
  return call;
}

ChatMessage parse_message(const json& entry, const std::string& path,
                          std::unordered_map<std::string, std::string>& tool_names) {
  expect_object(entry, path);
  ChatMessage message;
  const std::string& role = required_string(entry, "role", path);
  const json* content = find(entry, "content");
  std::string content_path = join(path, "content");
  if (role == "system" || role == "developer" || role == "user") {
    if (!content) reject(content_path, "field required");
    message.role = role == "user" ? "user" : "system";
    message.content = text_content(*content, content_path);
  } else if (role == "assistant") {
    message.role = role;
    if (content) message.content = text_content(*content, content_path);
    if (const json* calls = find(entry, "tool_calls")) {
      std::string calls_path = join(path, "tool_calls");
      expect_array(*calls, calls_path);
      for (std::size_t i = 0; i < calls->size(); ++i) {
        ToolCall call = parse_assistant_tool_call((*calls)[i], join(calls_path, i));
        tool_names[call.id] = call.name;
        message.tool_calls.push_back(std::move(call));
      }
    }
  } else if (role == "tool") {
    message.role = role;
    message.tool_call_id = required_string(entry, "tool_call_id", path);
    if (auto it = tool_names.find(message.tool_call_id); it != tool_names.end()) {
      message.name = it->second;
    }
    if (content) message.content = text_content(*content, content_path);
  } else {
    reject(join(path, "role"), "expected \"system\", \"developer\", \"user\", \"assistant\" or "
                               "\"tool\", got \"" + role + "\"");
  }
  return message;
}

std::vector<ToolDefinition> parse_tools(const json& tools) {
  expect_array(tools, "tools");
  std::vector<ToolDefinition> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    std::string at = join("tools", i);
    const json& tool = expect_object(tools[i], at);
    if (required_string(tool, "type", at) != "function") {
      reject(join(at, "type"), "expected \"function\"");
    }
    const json* function = find(tool, "function");
    std::string function_path = join(at, "function");
    if (!function) reject(function_path, "field required");
    expect_object(*function, function_path);
    ToolDefinition definition;
    definition.name = required_string(*function, "name", function_path);
    if (definition.name.empty()) reject(join(function_path, "name"), "must not be empty");
    if (!names.insert(definition.name).second) {
      reject(join(function_path, "name"),
             "tool names must be unique, \"" + definition.name + "\" repeats");
    }
    if (const json* description = find(*function, "description")) {
      definition.description = expect_string(*description, join(function_path, "description"));
    }
    // OpenAI: "Omitting parameters defines a function with an empty parameter list."
    definition.input_schema = {{"type", "object"}, {"properties", json::object()}};
    if (const json* parameters = find(*function, "parameters")) {
      definition.input_schema = expect_object(*parameters, join(function_path, "parameters"));
    }
    out.push_back(std::move(definition));
  }
  return out;
}

void parse_tool_choice(const json& choice, ChatRequest& request) {
  if (choice.is_string()) {
    const std::string& mode = choice.get_ref<const std::string&>();
    if (mode == "none") {
      request.tool_choice = ToolChoice::none;
    } else if (mode == "auto") {
      request.tool_choice = ToolChoice::auto_;
    } else if (mode == "required") {
      if (request.tools.empty()) reject("tool_choice", "\"required\" needs at least one tool");
      request.tool_choice = ToolChoice::any;
    } else {
      reject("tool_choice", "expected \"none\", \"auto\", \"required\" or an object, got \"" +
                                mode + "\"");
    }
    return;
  }
  if (!choice.is_object()) reject("tool_choice", "expected a string or an object");
  if (required_string(choice, "type", "tool_choice") != "function") {
    reject("tool_choice.type", "expected \"function\"");
  }
  const json* function = find(choice, "function");
  if (!function) reject("tool_choice.function", "field required");
  expect_object(*function, "tool_choice.function");
  request.forced_tool = required_string(*function, "name", "tool_choice.function");
  bool known = false;
  for (const auto& tool : request.tools) known = known || tool.name == request.forced_tool;
  if (!known) reject("tool_choice.function.name", "no tool named \"" + request.forced_tool + "\"");
  request.tool_choice = ToolChoice::tool;
}

void parse_response_format(const json& format, ChatRequest& request) {
  expect_object(format, "response_format");
  const std::string& type = required_string(format, "type", "response_format");
  if (type == "text") {
    request.response_format = ResponseFormat::text;
  } else if (type == "json_object") {
    request.response_format = ResponseFormat::json_object;
  } else if (type == "json_schema") {
    const json* spec = find(format, "json_schema");
    if (!spec) reject("response_format.json_schema", "field required");
    expect_object(*spec, "response_format.json_schema");
    required_string(*spec, "name", "response_format.json_schema");
    request.response_format = ResponseFormat::json_schema;
    request.response_schema = json::object();  // no schema: any JSON value
    if (const json* schema = find(*spec, "schema")) {
      request.response_schema = expect_object(*schema, "response_format.json_schema.schema");
    }
  } else {
    reject("response_format.type",
           "expected \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
  }
}

void parse_stop(const json& stop, ChatRequest& request) {
  if (stop.is_string()) {
    if (!stop.get_ref<const std::string&>().empty()) request.stop.push_back(stop.get<std::string>());
    return;
  }
  if (!stop.is_array()) reject("stop", "expected a string or a list of strings");
  if (stop.size() > kMaxStops) {
    reject("stop", "at most " + std::to_string(kMaxStops) + " stop sequences are allowed");
  }
  for (std::size_t i = 0; i < stop.size(); ++i) {
    const std::string& text = expect_string(stop[i], join("stop", i));
    if (text.empty()) reject(join("stop", i), "must not be empty");
    request.stop.push_back(text);
  }
}

void parse_logit_bias(const json& bias, ChatRequest& request) {
  expect_object(bias, "logit_bias");
  for (const auto& [key, value] : bias.items()) {
    std::string at = join("logit_bias", key);
    std::size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || key.empty() || id < 0 || id > kIntMax) {
      reject("logit_bias", "keys must be token ids (integers >= 0), got \"" + key + "\"");
    }
    request.sampling.logit_bias[static_cast<int32_t>(id)] =
        static_cast<float>(expect_number_in(value, at, -100, 100));
  }
}

// Sampling and output fields shared by chat and text completions.
void parse_common(const json& body, ChatRequest& request) {
  auto& sampling = request.sampling;
  if (const json* v = find(body, "temperature")) {
    sampling.temperature = static_cast<float>(expect_number_in(*v, "temperature", 0, 2));
  }
  if (const json* v = find(body, "top_p")) {
    double top_p = expect_number_in(*v, "top_p", 0, 1);
    if (top_p <= 0) reject("top_p", "expected a number in (0, 1], got 0");
    sampling.top_p = static_cast<float>(top_p);
  }
  if (const json* v = find(body, "top_k")) {  // vLLM's extension; -1 and 0 both turn it off
    sampling.top_k = static_cast<int>(std::max<int64_t>(0, expect_integer(*v, "top_k", -1, kIntMax)));
  }
  if (const json* v = find(body, "min_p")) {
    sampling.min_p = static_cast<float>(expect_number_in(*v, "min_p", 0, 1));
  }
  if (const json* v = find(body, "presence_penalty")) {
    sampling.presence_penalty = static_cast<float>(expect_number_in(*v, "presence_penalty", -2, 2));
  }
  if (const json* v = find(body, "frequency_penalty")) {
    sampling.frequency_penalty =
        static_cast<float>(expect_number_in(*v, "frequency_penalty", -2, 2));
  }
  if (const json* v = find(body, "repetition_penalty")) {
    double penalty = expect_number_in(*v, "repetition_penalty", 0, 10);
    if (penalty <= 0) reject("repetition_penalty", "expected a number in (0, 10], got 0");
    sampling.repetition_penalty = static_cast<float>(penalty);
  }
  if (const json* v = find(body, "seed")) {
    int64_t seed = expect_integer(*v, "seed", std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max());
    sampling.seed = static_cast<uint64_t>(seed);
  }
  if (const json* v = find(body, "logit_bias")) parse_logit_bias(*v, request);
  if (const json* v = find(body, "stop")) parse_stop(*v, request);
  if (const json* v = find(body, "n")) {
    request.n = static_cast<int>(expect_integer(*v, "n", 1, kMaxChoices));
  }
  if (const json* v = find(body, "stream")) request.stream = expect_bool(*v, "stream");
  if (const json* options = find(body, "stream_options")) {
    expect_object(*options, "stream_options");
    if (const json* v = find(*options, "include_usage")) {
      request.include_usage = expect_bool(*v, "stream_options.include_usage");
    }
  }
  try {
    sampling.validate();
  } catch (const pensieve::Error& e) {
    throw ApiError(ErrorKind::invalid_request, e.what());
  }
}

void start(const json& body, ChatRequest& request) {
  if (!body.is_object()) {
    throw ApiError(ErrorKind::invalid_request, "the request body must be a JSON object");
  }
  request.model = required_string(body, "model", "");
}

std::optional<int> max_tokens_field(const json& body, std::string_view key) {
  if (const json* v = find(body, key)) {
    return static_cast<int>(expect_integer(*v, std::string(key), 1, kIntMax));
  }
  return std::nullopt;
}

std::vector<int32_t> token_ids(const json& list, const std::string& path) {
  std::vector<int32_t> ids;
  for (std::size_t i = 0; i < list.size(); ++i) {
    ids.push_back(static_cast<int32_t>(expect_integer(list[i], join(path, i), 0, kIntMax)));
  }
  return ids;
}

void parse_prompt(const json& prompt, ChatRequest& request) {
  constexpr const char* kShapes =
      "expected a string, a list of token ids, or a list holding one of those";
  if (prompt.is_string()) {
    request.raw_prompt = prompt.get<std::string>();
    return;
  }
  if (!prompt.is_array()) reject("prompt", kShapes);
  if (prompt.empty()) reject("prompt", "must not be empty");
  if (prompt[0].is_number()) {
    request.prompt_token_ids = token_ids(prompt, "prompt");
    return;
  }
  if (prompt.size() > 1) {
    reject("prompt", "only one prompt per request is supported (got " +
                         std::to_string(prompt.size()) + "); use n for several completions");
  }
  if (prompt[0].is_string()) {
    request.raw_prompt = prompt[0].get<std::string>();
  } else if (prompt[0].is_array()) {
    if (prompt[0].empty()) reject("prompt.0", "must not be empty");
    request.prompt_token_ids = token_ids(prompt[0], "prompt.0");
  } else {
    reject("prompt.0", kShapes);
  }
}

}  // namespace

ChatRequest parse_chat_request(const nlohmann::json& body) {
  ChatRequest request;
  start(body, request);

  const json* messages = find(body, "messages");
  if (!messages) reject("messages", "field required");
  expect_array(*messages, "messages");
  if (messages->empty()) reject("messages", "at least one message is required");
  std::unordered_map<std::string, std::string> tool_names;  // tool call id → function name
  for (std::size_t i = 0; i < messages->size(); ++i) {
    request.messages.push_back(parse_message((*messages)[i], join("messages", i), tool_names));
  }

  request.max_tokens = max_tokens_field(body, "max_completion_tokens");
  if (!request.max_tokens) request.max_tokens = max_tokens_field(body, "max_tokens");

  if (const json* tools = find(body, "tools")) request.tools = parse_tools(*tools);
  if (const json* choice = find(body, "tool_choice")) parse_tool_choice(*choice, request);
  if (const json* parallel = find(body, "parallel_tool_calls")) {
    request.parallel_tool_calls = expect_bool(*parallel, "parallel_tool_calls");
  }
  if (const json* format = find(body, "response_format")) parse_response_format(*format, request);

  bool logprobs = false;
  if (const json* v = find(body, "logprobs")) logprobs = expect_bool(*v, "logprobs");
  if (const json* v = find(body, "top_logprobs")) {
    int top = static_cast<int>(expect_integer(*v, "top_logprobs", 0, kMaxTopLogprobs));
    if (!logprobs) reject("top_logprobs", "requires logprobs: true");
    request.top_logprobs = top;
  } else if (logprobs) {
    request.top_logprobs = 0;
  }
  parse_common(body, request);
  return request;
}

ChatRequest parse_completion_request(const nlohmann::json& body) {
  ChatRequest request;
  start(body, request);
  const json* prompt = find(body, "prompt");
  if (!prompt) reject("prompt", "field required");
  parse_prompt(*prompt, request);
  if (const json* suffix = find(body, "suffix")) {
    if (!expect_string(*suffix, "suffix").empty()) {
      reject("suffix", "not supported: this server does not do fill-in-the-middle");
    }
  }
  request.max_tokens = max_tokens_field(body, "max_tokens").value_or(kCompletionDefaultMaxTokens);
  if (const json* v = find(body, "echo")) request.echo = expect_bool(*v, "echo");
  if (const json* v = find(body, "logprobs")) {
    request.top_logprobs =
        static_cast<int>(expect_integer(*v, "logprobs", 0, kMaxCompletionLogprobs));
  }
  parse_common(body, request);
  return request;
}

}  // namespace pensieve::api::openai
