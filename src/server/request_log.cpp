#include "server/request_log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

namespace pensieve::server::request_log {
namespace {

using Clock = std::chrono::steady_clock;

struct Record {
  std::optional<Clock::time_point> started;
  bool generated = false;
  int prompt_tokens = 0;       // the largest prompt among the choices (they share one)
  int completion_tokens = 0;   // summed over the choices
  double first_token_s = -1;   // the earliest choice's
};

thread_local Record t_record;

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", s);
  return buf;
}

}  // namespace

void begin() {
  t_record = Record{};
  t_record.started = Clock::now();
}

Clock::time_point received() { return t_record.started.value_or(Clock::now()); }

void note_generation(const engine::Usage& usage, double time_to_first_token_s) {
  Record& r = t_record;
  r.generated = true;
  r.prompt_tokens = std::max(r.prompt_tokens, usage.prompt_tokens);
  r.completion_tokens += usage.completion_tokens;
  if (usage.completion_tokens > 0 && (r.first_token_s < 0 || time_to_first_token_s < r.first_token_s))
    r.first_token_s = time_to_first_token_s;
}

std::string finish(const std::string& method, const std::string& path, int status) {
  const Record r = t_record;
  t_record = Record{};
  std::string line = method + " " + path + " " + std::to_string(status);
  if (r.generated) {
    line += " tokens_in=" + std::to_string(r.prompt_tokens) + " tokens_out=" + std::to_string(r.completion_tokens);
    line += " ttft=" + (r.first_token_s >= 0 ? seconds(r.first_token_s) : std::string("-"));
  }
  if (r.started) line += " duration=" + seconds(std::chrono::duration<double>(Clock::now() - *r.started).count());
  return line;
}

}  // namespace pensieve::server::request_log
