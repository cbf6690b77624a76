#include "cli/interrupt_flag.h"

#include <csignal>

namespace pensieve::cli {
namespace {

volatile std::sig_atomic_t g_sigint = 0;
struct sigaction g_previous {};

extern "C" void on_sigint(int) { g_sigint = 1; }

}  // namespace

InterruptFlag::InterruptFlag() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: reads at the prompt must return
  sigaction(SIGINT, &action, &g_previous);
  g_sigint = 0;
}

InterruptFlag::~InterruptFlag() { sigaction(SIGINT, &g_previous, nullptr); }

bool InterruptFlag::raised() const { return g_sigint != 0; }

bool InterruptFlag::take() {
  const bool was = g_sigint != 0;
  g_sigint = 0;
  return was;
}

}  // namespace pensieve::cli
