#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "common/error.h"

namespace pensieve::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mutex;  // one line at a time from many threads
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

Level parse_level(std::string_view name) {
  for (int i = 0; i < 4; ++i)
    if (name == kNames[i]) return static_cast<Level>(i);
  if (name == "off") return Level::off;
  throw Error("unknown log level '" + std::string(name) + "' (debug, info, warn, error, off)");
}

void write(Level l, std::string_view message) {
  if (l < g_level.load() || l == Level::off) return;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s %-5s %.*s\n", stamp, kNames[static_cast<int>(l)],
               static_cast<int>(message.size()), message.data());
}

}  // namespace pensieve::log
