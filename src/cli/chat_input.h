#pragma once
// What the user typed at the chat prompt, as whole messages: a line ending in a backslash goes
// on to the next line, and `"""` opens a block that runs to the next `"""`. Lines starting with
// a slash are commands.
#include <optional>
#include <string>

#include "cli/line_reader.h"

namespace pensieve::cli {

struct ChatInput {
  enum class Kind { message, command, interrupted, end };
  Kind kind = Kind::end;
  std::string text;  // message: the text; command: the name without the slash ("temp")
  std::string argument;  // command: what follows the name, trimmed
};

// Reads one message or command; `prompt` for the first line, `continuation` for the others.
ChatInput read_chat_input(LineReader& reader, const std::string& prompt, const std::string& continuation);

// A single typed line as a command, when it is one ("/temp 0.2" → {command, "temp", "0.2"}).
std::optional<ChatInput> parse_command(const std::string& line);

}  // namespace pensieve::cli
