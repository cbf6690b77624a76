#pragma once
// The chat's input lines: line editing and history through libedit's readline interface when
// stdin is a terminal, plain std::getline otherwise (pipes, files, tests).
#include <string>

namespace pensieve::cli {

class InterruptFlag;

struct InputLine {
  enum class Kind { text, interrupted, end };  // interrupted: Ctrl-C at the prompt; end: Ctrl-D or EOF
  Kind kind = Kind::end;
  std::string text;
};

class LineReader {
 public:
  // history_file: lines of earlier sessions, loaded now and saved on destruction ("" = none).
  LineReader(InterruptFlag& interrupt, std::string history_file);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool interactive() const { return interactive_; }
  InputLine read(const std::string& prompt);
  void remember(const std::string& entry);  // adds a submitted message to the history

 private:
  InterruptFlag& interrupt_;
  std::string history_file_;
  bool interactive_;
  std::string last_entry_;
};

}  // namespace pensieve::cli
