#include "cli/line_reader.h"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/interrupt_flag.h"

namespace pensieve::cli {
namespace {
constexpr int kHistoryLength = 1000;
}

LineReader::LineReader(InterruptFlag& interrupt, std::string history_file)
    : interrupt_(interrupt), history_file_(std::move(history_file)), interactive_(isatty(STDIN_FILENO) != 0) {
  if (!interactive_) return;
  // Our SIGINT handler, not libedit's: libedit's re-raises the signal to the whole process group.
  rl_catch_signals = 0;
  using_history();
  stifle_history(kHistoryLength);
  if (!history_file_.empty()) read_history(history_file_.c_str());  // absent on first use: fine
}

LineReader::~LineReader() {
  if (interactive_ && !history_file_.empty()) write_history(history_file_.c_str());
}

InputLine LineReader::read(const std::string& prompt) {
  interrupt_.take();  // a Ctrl-C from before this prompt is not about this line
  if (!interactive_) {
    std::string line;
    if (std::getline(std::cin, line)) return {InputLine::Kind::text, std::move(line)};
    if (interrupt_.take()) {
      std::cin.clear();
      return {InputLine::Kind::interrupted, {}};
    }
    return {InputLine::Kind::end, {}};
  }
  // readline returns null both for end of input and when the handler interrupted its read.
  char* raw = readline(prompt.c_str());
  if (!raw) return {interrupt_.take() ? InputLine::Kind::interrupted : InputLine::Kind::end, {}};
  std::string line(raw);
  std::free(raw);
  return {InputLine::Kind::text, std::move(line)};
}

void LineReader::remember(const std::string& entry) {
  if (!interactive_ || entry.empty()) return;
  if (entry == last_entry_) return;  // no runs of the same entry
  add_history(entry.c_str());
  last_entry_ = entry;
}

}  // namespace pensieve::cli
