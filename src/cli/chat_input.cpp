#include "cli/chat_input.h"

namespace pensieve::cli {
namespace {

constexpr std::string_view kBlockFence = R"(""")";

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

ChatInput interrupted_or_end(const InputLine& line) {
  return {line.kind == InputLine::Kind::interrupted ? ChatInput::Kind::interrupted : ChatInput::Kind::end, {}, {}};
}

// After an opening fence: lines up to the one that ends with the closing fence.
ChatInput read_block(LineReader& reader, std::string text, const std::string& continuation) {
  for (;;) {
    auto line = reader.read(continuation);
    if (line.kind != InputLine::Kind::text) return interrupted_or_end(line);
    const std::string trimmed = trim(line.text);
    if (ends_with(trimmed, kBlockFence)) {
      text += trimmed.substr(0, trimmed.size() - kBlockFence.size());
      return {ChatInput::Kind::message, trim(text), {}};
    }
    text += line.text + "\n";
  }
}

}  // namespace

std::optional<ChatInput> parse_command(const std::string& line) {
  const std::string trimmed = trim(line);
  if (trimmed.size() < 2 || trimmed[0] != '/') return std::nullopt;
  const auto space = trimmed.find_first_of(" \t");
  ChatInput command{ChatInput::Kind::command, trimmed.substr(1, space == std::string::npos ? std::string::npos : space - 1), {}};
  if (space != std::string::npos) command.argument = trim(std::string_view(trimmed).substr(space));
  return command;
}

ChatInput read_chat_input(LineReader& reader, const std::string& prompt, const std::string& continuation) {
  auto line = reader.read(prompt);
  if (line.kind != InputLine::Kind::text) return interrupted_or_end(line);
  if (auto command = parse_command(line.text)) return *command;

  const std::string first = trim(line.text);
  if (first.rfind(kBlockFence, 0) == 0) {
    const std::string rest = first.substr(kBlockFence.size());
    if (rest.size() >= kBlockFence.size() && ends_with(rest, kBlockFence))  // """one line"""
      return {ChatInput::Kind::message, trim(rest.substr(0, rest.size() - kBlockFence.size())), {}};
    return read_block(reader, rest.empty() ? std::string() : rest + "\n", continuation);
  }

  std::string text;
  std::string current = line.text;
  while (ends_with(current, "\\")) {
    text += current.substr(0, current.size() - 1) + "\n";
    auto next = reader.read(continuation);
    if (next.kind != InputLine::Kind::text) return interrupted_or_end(next);
    current = next.text;
  }
  text += current;
  return {ChatInput::Kind::message, trim(text), {}};
}

}  // namespace pensieve::cli
