#pragma once
// Ctrl-C for the interactive chat: while an InterruptFlag lives, SIGINT sets a flag instead of
// ending the process. The handler is installed without SA_RESTART so a blocking read at the
// prompt returns (EINTR) and the line editor gives the line up.
namespace pensieve::cli {

class InterruptFlag {
 public:
  InterruptFlag();   // installs the handler
  ~InterruptFlag();  // puts the previous one back
  InterruptFlag(const InterruptFlag&) = delete;
  InterruptFlag& operator=(const InterruptFlag&) = delete;

  bool raised() const;
  // Returns whether SIGINT arrived since the last call, and forgets it.
  bool take();
};

}  // namespace pensieve::cli
