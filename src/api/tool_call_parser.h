#pragma once
// Finds tool calls in generated text as it streams, in Pensieve's built-in format
// (docs/TOOLS.md): <tool_call>{"name": "NAME", "arguments": {…}}</tool_call>.
//
// push() returns what can be said now: plain text (never a piece that could still turn out to be
// the start of "<tool_call>"), then, for each call, a start once its name is known, the raw
// arguments JSON as it arrives (so a client can watch it stream), and an end with the parsed
// call. The pieces do not depend on how the text was split into pushes, except that text and
// argument fragments may be cut at different places.
//
// Lenient parts, chosen so that a model's small slips do not lose a call or the text:
// - Whitespace right before "<tool_call>" and right after "</tool_call>" is dropped: it is the
//   model's separator, not content (and it would otherwise become a text block of its own).
// - "parameters" is accepted in place of "arguments"; anything between the arguments object and
//   "</tool_call>" is ignored; a missing "</tool_call>" at the end (the model stopped right after
//   the JSON) or before the next "<tool_call>" still closes the call.
// - A call whose header is not `{"name": "…", "arguments": {` (other key order, arguments given as
//   a JSON string, …) is held until "</tool_call>" and parsed whole; if it is still not a valid
//   call, its raw text, tags included, comes back as text.
// - Once a call has started streaming it always ends: if its arguments are cut off (max_tokens)
//   or are not valid JSON, the end carries `complete = false` and empty arguments `{}`.
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/chat.h"

namespace pensieve::api {

struct TextDelta {
  std::string text;
};
struct ToolCallStart {
  std::string id;  // id_prefix + 24 random alphanumerics
  std::string name;
};
struct ToolArgumentsDelta {
  std::string json_fragment;  // raw arguments JSON text; the fragments of one call concatenate
                              // to its arguments object
};
struct ToolCallEnd {
  ToolCall call;          // id and name as in the start; arguments parsed
  bool complete = true;   // false: the arguments were cut off or invalid (arguments = {})
};
using ToolStreamPiece = std::variant<TextDelta, ToolCallStart, ToolArgumentsDelta, ToolCallEnd>;

class ToolCallParser {
 public:
  // "toolu_" for Anthropic, "call_" for OpenAI.
  explicit ToolCallParser(std::string id_prefix);

  std::vector<ToolStreamPiece> push(std::string_view text);
  // At the end of generation: everything held back, and the end of a call left open.
  std::vector<ToolStreamPiece> finish();

  int calls_started() const { return calls_started_; }

 private:
  enum class State { text, header, arguments, tail, buffered };
  void run(bool at_end, std::vector<ToolStreamPiece>& out);
  bool step_text(bool at_end, std::vector<ToolStreamPiece>& out);
  bool step_header(bool at_end, std::vector<ToolStreamPiece>& out);
  bool step_arguments(bool at_end, std::vector<ToolStreamPiece>& out);
  bool step_tail(bool at_end, std::vector<ToolStreamPiece>& out);
  bool step_buffered(bool at_end, std::vector<ToolStreamPiece>& out);
  void start_call(std::string name, std::vector<ToolStreamPiece>& out);
  void end_call(std::vector<ToolStreamPiece>& out);

  std::string id_prefix_;
  State state_ = State::text;
  std::string buffer_;     // input not yet handled in the current state
  std::string arguments_;  // the current call's arguments text so far
  std::string id_, name_;
  int depth_ = 0;  // nesting of the arguments JSON
  bool in_string_ = false, escaped_ = false;
  bool after_call_ = false;  // whitespace at the start of buffer_ follows a call: drop it
  int calls_started_ = 0;
};

}  // namespace pensieve::api
