// The built-in tool format: the prompt section, how calls and results are written back, and the
// Hugging Face message shape for templates that take tools themselves.
#include <gtest/gtest.h>

#include "api/tool_call_parser.h"
#include "api/tool_prompt.h"

namespace pensieve::api {
namespace {

using nlohmann::json;

ChatMessage message(std::string role, std::string content) {
  ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

ChatRequest conversation() {
  ChatRequest r;
  r.messages.push_back(message("system", "Be helpful."));
  r.messages.push_back(message("user", "Weather in Paris?"));
  ChatMessage call = message("assistant", "Checking.");
  call.tool_calls.push_back({"toolu_1", "get_weather", {{"city", "Paris"}}});
  r.messages.push_back(call);
  ChatMessage result = message("tool", "18C, sunny");
  result.tool_call_id = "toolu_1";
  result.name = "get_weather";
  r.messages.push_back(result);
  r.messages.push_back(message("user", "And tomorrow?"));
  r.tools.push_back({"get_weather", "Current weather",
                     {{"type", "object"},
                      {"properties", {{"city", {{"type", "string"}}}}},
                      {"required", {"city"}}}});
  return r;
}

TEST(ToolPrompt, SystemSectionListsToolsAndTheCallFormat) {
  ChatRequest r = conversation();
  std::string section = tool_system_section(r);
  EXPECT_NE(section.find("{\"name\": \"get_weather\", \"description\": \"Current weather\", "
                         "\"parameters\": {\"properties\":{\"city\":{\"type\":\"string\"}},"
                         "\"required\":[\"city\"],\"type\":\"object\"}}\n"),
            std::string::npos)
      << section;
  EXPECT_NE(section.find("<tool_call>{\"name\": \"TOOL_NAME\", \"arguments\": ARGUMENTS}</tool_call>"),
            std::string::npos);
  EXPECT_NE(section.find("Call a tool only when it helps"), std::string::npos);
  r.tool_choice = ToolChoice::tool;
  r.forced_tool = "get_weather";
  EXPECT_NE(tool_system_section(r).find("You must call the tool \"get_weather\" now."),
            std::string::npos);
  r.tool_choice = ToolChoice::none;
  EXPECT_EQ(tool_system_section(r), "");
}

TEST(ToolPrompt, ApplyToolFormat) {
  ChatRequest r = conversation();
  auto out = apply_tool_format(r);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].role, "system");
  EXPECT_EQ(out[0].content, "Be helpful.\n\n" + tool_system_section(r));
  EXPECT_EQ(out[1].role, "user");
  EXPECT_EQ(out[2].role, "assistant");
  EXPECT_EQ(out[2].content,
            "Checking.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": "
            "{\"city\":\"Paris\"}}</tool_call>");
  // The result and the next user text merge into one user turn.
  EXPECT_EQ(out[3].role, "user");
  EXPECT_EQ(out[3].content,
            "<tool_result name=\"get_weather\" id=\"toolu_1\">18C, sunny</tool_result>\n\n"
            "And tomorrow?");
  for (const auto& m : out) EXPECT_TRUE(m.tool_calls.empty());
}

TEST(ToolPrompt, SystemMessageIsCreatedWhenAbsentAndErrorsAreMarked) {
  ChatRequest r = conversation();
  r.messages.erase(r.messages.begin());
  r.messages[2].is_error = true;
  auto out = apply_tool_format(r);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].role, "system");
  EXPECT_EQ(out[0].content, tool_system_section(r));
  EXPECT_EQ(out[3].content.rfind("<tool_result name=\"get_weather\" id=\"toolu_1\" error=\"true\">", 0),
            0u);
  // Without tools nothing is added, but earlier calls are still written as text.
  r.tools.clear();
  out = apply_tool_format(r);
  EXPECT_EQ(out[0].role, "user");
}

TEST(ToolPrompt, RenderedCallsParseBack) {
  ToolCall call{"call_9", "run", {{"cmd", "echo \"<tool_call>\""}, {"n", {1, 2}}}};
  ToolCallParser parser("call_");
  auto pieces = parser.push(render_tool_call(call));
  auto rest = parser.finish();
  pieces.insert(pieces.end(), rest.begin(), rest.end());
  ASSERT_FALSE(pieces.empty());
  const auto& end = std::get<ToolCallEnd>(pieces.back());
  EXPECT_TRUE(end.complete);
  EXPECT_EQ(end.call.name, "run");
  EXPECT_EQ(end.call.arguments, call.arguments);
  EXPECT_EQ(tool_call_prefix(), "<tool_call>");
}

TEST(ToolPrompt, TemplateShape) {
  ChatRequest r = conversation();
  json expected = json::parse(R"([
    {"role": "system", "content": "Be helpful."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
      {"id": "toolu_1", "type": "function",
       "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": "18C, sunny", "tool_call_id": "toolu_1", "name": "get_weather"},
    {"role": "user", "content": "And tomorrow?"}
  ])");
  EXPECT_EQ(template_messages(r), expected);
  EXPECT_EQ(template_tools(r), json::parse(R"([{"type": "function", "function": {
      "name": "get_weather", "description": "Current weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]}}}])"));
  r.tool_choice = ToolChoice::none;
  EXPECT_EQ(template_tools(r), json::array());
}

}  // namespace
}  // namespace pensieve::api
