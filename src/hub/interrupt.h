#pragma once
// Ctrl-C and SIGTERM during a download: the transfers stop, partial files stay for the next run.
namespace pensieve::hub {

// While alive, SIGINT and SIGTERM set a flag instead of killing the process; the previous
// handlers come back on destruction.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

bool interrupted();
int interrupt_signal();  // the signal received, 0 if none

}  // namespace pensieve::hub
