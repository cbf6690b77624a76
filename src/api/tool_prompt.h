#pragma once
// Tool use for models whose chat template knows nothing of tools (Phi-3): Pensieve's built-in
// format, documented in docs/TOOLS.md. The tool definitions go into the system prompt, the
// model answers with <tool_call>{"name": …, "arguments": {…}}</tool_call>, and earlier calls
// and results are written back into the conversation as plain text in that same format.
//
// For templates that take `tools` themselves (Llama 3.x, Qwen), template_messages() and
// template_tools() give the messages and tools in the Hugging Face / OpenAI shape instead.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/chat.h"

namespace pensieve::api {

// "<tool_call>": the text that starts a call; the grammar for a forced call begins with it.
std::string tool_call_prefix();
// "</tool_call>"
std::string tool_call_suffix();

// The call as the model writes it: <tool_call>{"name": "…", "arguments": {…}}</tool_call>.
std::string render_tool_call(const ToolCall& call);

// The system-prompt section describing the tools and how to call them ("" when the request has
// no tools or tool_choice is none).
std::string tool_system_section(const ChatRequest& request);

// The request's messages ready for a template with only system, user and assistant roles:
// - the tool section is appended to the first system message (one is created when there is
//   none), after the client's own text, so a fixed system prompt stays a fixed prefix;
// - assistant turns that called tools get their calls appended as <tool_call> text;
// - tool results become <tool_result name="…" id="…">…</tool_result> text in a user turn;
// - consecutive messages of the same role are merged (joined by a blank line), as templates that
//   require alternating roles expect.
std::vector<ChatMessage> apply_tool_format(const ChatRequest& request);

// The messages in the Hugging Face chat-template shape: {role, content}, assistant turns with
// tool_calls [{id, type: "function", function: {name, arguments: object}}], role "tool" with
// tool_call_id and name.
nlohmann::json template_messages(const ChatRequest& request);
// The tools in the shape templates take: [{type: "function", function: {name, description,
// parameters}}] (empty when tool_choice is none).
nlohmann::json template_tools(const ChatRequest& request);

}  // namespace pensieve::api
