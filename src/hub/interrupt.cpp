#include "hub/interrupt.h"

#include <signal.h>

#include <atomic>

namespace pensieve::hub {
namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old_int {};
struct sigaction g_old_term {};

void on_signal(int sig) { g_signal.store(sig); }

}  // namespace

InterruptGuard::InterruptGuard() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool interrupted() { return g_signal.load() != 0; }
int interrupt_signal() { return g_signal.load(); }

}  // namespace pensieve::hub
