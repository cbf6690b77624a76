#include "api/tool_call_parser.h"

#include <optional>

#include "api/ids.h"

namespace pensieve::api {
namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// Length of the longest proper prefix of `tag` that `s` ends with.
std::size_t partial_tag_at_end(std::string_view s, std::string_view tag) {
  for (std::size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

void emit_text(std::string text, std::vector<ToolStreamPiece>& out) {
  if (!text.empty()) out.emplace_back(TextDelta{std::move(text)});
}

enum class Scan { incomplete, mismatch, ok };

// A JSON string starting at s[i] == '"': its decoded value and the index after it.
Scan scan_string(std::string_view s, std::size_t& i, std::string& value) {
  if (i >= s.size()) return Scan::incomplete;
  if (s[i] != '"') return Scan::mismatch;
  for (std::size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] == '\\') {
      ++j;
      continue;
    }
    if (s[j] == '"') {
      auto parsed = nlohmann::json::parse(s.substr(i, j + 1 - i), nullptr, false);
      if (!parsed.is_string()) return Scan::mismatch;
      value = parsed.get<std::string>();
      i = j + 1;
      return Scan::ok;
    }
  }
  return Scan::incomplete;
}

Scan expect_char(std::string_view s, std::size_t& i, char c) {
  i = skip_space(s, i);
  if (i >= s.size()) return Scan::incomplete;
  if (s[i] != c) return Scan::mismatch;
  ++i;
  return Scan::ok;
}

// The streaming header `{"name": "NAME", "arguments": ` up to (not including) the '{' that opens
// the arguments; `i` ends on that '{'.
Scan scan_header(std::string_view s, std::size_t& i, std::string& name) {
  std::string key;
  Scan r;
  if ((r = expect_char(s, i, '{')) != Scan::ok) return r;
  i = skip_space(s, i);
  if ((r = scan_string(s, i, key)) != Scan::ok) return r;
  if (key != "name") return Scan::mismatch;
  if ((r = expect_char(s, i, ':')) != Scan::ok) return r;
  i = skip_space(s, i);
  if ((r = scan_string(s, i, name)) != Scan::ok) return r;
  if ((r = expect_char(s, i, ',')) != Scan::ok) return r;
  i = skip_space(s, i);
  if ((r = scan_string(s, i, key)) != Scan::ok) return r;
  if (key != "arguments" && key != "parameters") return Scan::mismatch;
  if ((r = expect_char(s, i, ':')) != Scan::ok) return r;
  i = skip_space(s, i);
  if (i >= s.size()) return Scan::incomplete;
  return s[i] == '{' ? Scan::ok : Scan::mismatch;
}

// A whole call body in any key order: {"name": string, "arguments" | "parameters": object or a
// string holding a JSON object}.
std::optional<ToolCall> parse_whole_call(std::string_view body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object()) return std::nullopt;
  auto name = parsed.find("name");
  if (name == parsed.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  nlohmann::json arguments = nlohmann::json::object();
  for (const char* key : {"arguments", "parameters"}) {
    auto it = parsed.find(key);
    if (it == parsed.end()) continue;
    arguments = it->is_string() ? nlohmann::json::parse(it->get<std::string>(), nullptr, false) : *it;
    break;
  }
  if (!arguments.is_object()) return std::nullopt;
  return ToolCall{"", name->get<std::string>(), std::move(arguments)};
}

}  // namespace

ToolCallParser::ToolCallParser(std::string id_prefix) : id_prefix_(std::move(id_prefix)) {}

std::vector<ToolStreamPiece> ToolCallParser::push(std::string_view text) {
  std::vector<ToolStreamPiece> out;
  buffer_.append(text);
  run(false, out);
  return out;
}

std::vector<ToolStreamPiece> ToolCallParser::finish() {
  std::vector<ToolStreamPiece> out;
  run(true, out);
  return out;
}

void ToolCallParser::run(bool at_end, std::vector<ToolStreamPiece>& out) {
  for (;;) {
    bool again = false;
    switch (state_) {
      case State::text: again = step_text(at_end, out); break;
      case State::header: again = step_header(at_end, out); break;
      case State::arguments: again = step_arguments(at_end, out); break;
      case State::tail: again = step_tail(at_end, out); break;
      case State::buffered: again = step_buffered(at_end, out); break;
    }
    if (!again) return;
  }
}

bool ToolCallParser::step_text(bool at_end, std::vector<ToolStreamPiece>& out) {
  if (after_call_) {
    buffer_.erase(0, skip_space(buffer_, 0));
    if (buffer_.empty()) return false;
    after_call_ = false;
  }
  std::size_t open = buffer_.find(kOpen);
  if (open != std::string::npos) {
    std::size_t end = open;
    while (end > 0 && is_space(buffer_[end - 1])) --end;
    emit_text(buffer_.substr(0, end), out);
    buffer_.erase(0, open + kOpen.size());
    state_ = State::header;
    return true;
  }
  std::size_t release = buffer_.size();
  if (!at_end) {
    // Hold back what could still become "<tool_call>", and the whitespace before it (dropped if
    // a call follows).
    release -= partial_tag_at_end(buffer_, kOpen);
    while (release > 0 && is_space(buffer_[release - 1])) --release;
  }
  emit_text(buffer_.substr(0, release), out);
  buffer_.erase(0, release);
  return false;
}

bool ToolCallParser::step_header(bool at_end, std::vector<ToolStreamPiece>& out) {
  std::size_t i = 0;
  std::string name;
  Scan scan = scan_header(buffer_, i, name);
  if (scan == Scan::ok && !name.empty()) {
    start_call(std::move(name), out);
    buffer_.erase(0, i);  // now starts with the arguments' '{'
    arguments_.clear();
    depth_ = 0;
    in_string_ = escaped_ = false;
    state_ = State::arguments;
    return true;
  }
  if (scan == Scan::incomplete && !at_end && buffer_.find(kClose) == std::string::npos) {
    return false;
  }
  state_ = State::buffered;  // not the streaming shape (or never finished): judge it whole
  return true;
}

bool ToolCallParser::step_arguments(bool at_end, std::vector<ToolStreamPiece>& out) {
  std::size_t i = 0;
  bool closed = false;
  for (; i < buffer_.size() && !closed; ++i) {
    char c = buffer_[i];
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      closed = --depth_ == 0;
    }
  }
  std::string fragment = buffer_.substr(0, i);
  buffer_.erase(0, i);
  arguments_ += fragment;
  if (!fragment.empty()) out.emplace_back(ToolArgumentsDelta{std::move(fragment)});
  if (closed) {
    state_ = State::tail;
    return true;
  }
  if (at_end) {
    end_call(out);
    return false;
  }
  return false;
}

bool ToolCallParser::step_tail(bool at_end, std::vector<ToolStreamPiece>& out) {
  std::size_t close = buffer_.find(kClose);
  std::size_t open = buffer_.find(kOpen);
  if (close != std::string::npos && (open == std::string::npos || close < open)) {
    buffer_.erase(0, close + kClose.size());
  } else if (open != std::string::npos) {
    buffer_.erase(0, open);  // the next call begins: this one is over
  } else if (at_end) {
    buffer_.clear();
  } else {
    return false;
  }
  end_call(out);
  return true;
}

bool ToolCallParser::step_buffered(bool at_end, std::vector<ToolStreamPiece>& out) {
  std::size_t close = buffer_.find(kClose);
  if (close == std::string::npos && !at_end) return false;
  std::string body = buffer_.substr(0, close);
  std::string raw = std::string(kOpen) + buffer_.substr(0, close == std::string::npos
                                                              ? std::string::npos
                                                              : close + kClose.size());
  buffer_.erase(0, close == std::string::npos ? buffer_.size() : close + kClose.size());
  state_ = State::text;
  if (auto call = parse_whole_call(body)) {
    start_call(call->name, out);
    arguments_ = call->arguments.dump();
    out.emplace_back(ToolArgumentsDelta{arguments_});
    end_call(out);
  } else {
    emit_text(std::move(raw), out);
  }
  return true;
}

void ToolCallParser::start_call(std::string name, std::vector<ToolStreamPiece>& out) {
  id_ = random_id(id_prefix_);
  name_ = std::move(name);
  ++calls_started_;
  out.emplace_back(ToolCallStart{id_, name_});
}

void ToolCallParser::end_call(std::vector<ToolStreamPiece>& out) {
  auto arguments = nlohmann::json::parse(arguments_, nullptr, false);
  bool complete = arguments.is_object();
  if (!complete) arguments = nlohmann::json::object();
  out.emplace_back(ToolCallEnd{ToolCall{id_, name_, std::move(arguments)}, complete});
  arguments_.clear();
  state_ = State::text;
  after_call_ = true;
}

}  // namespace pensieve::api
