#include "server/response_timings.h"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace pensieve::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) { return std::max(0.0, std::chrono::duration<double, std::milli>(d).count()); }

}  // namespace

api::openai::Timings response_timings(Clock::time_point received, const std::vector<const ChoiceStream*>& choices) {
  api::openai::Timings out;
  std::optional<Clock::time_point> submitted, admitted, first, last;
  auto earliest = [](std::optional<Clock::time_point>& into, Clock::time_point t) { into = into ? std::min(*into, t) : t; };
  for (const ChoiceStream* c : choices) {
    const auto& usage = c->usage();
    const auto& t = c->timings();
    out.prompt_n += usage.prompt_tokens - usage.cached_prompt_tokens;
    out.cache_n += usage.cached_prompt_tokens;
    out.predicted_n += usage.completion_tokens;
    earliest(submitted, t.submitted);
    earliest(admitted, t.admitted);
    if (t.first_token) earliest(first, *t.first_token);
    if (t.last_token) last = last ? std::max(*last, *t.last_token) : *t.last_token;
  }
  if (!submitted) return out;
  out.prepare_ms = ms(*submitted - received);
  out.queue_ms = ms(*admitted - received);
  if (first) {
    out.first_token_ms = ms(*first - received);
    out.prompt_ms = ms(*first - *admitted);
    out.predicted_ms = ms(*last - *first);
  }
  return out;
}

std::string server_timing_header(const api::openai::Timings& t) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "prepare;dur=%.3f, queue;dur=%.3f, prompt;dur=%.3f, first_token;dur=%.3f, predicted;dur=%.3f",
                t.prepare_ms, t.queue_ms, t.prompt_ms, t.first_token_ms, t.predicted_ms);
  return buf;
}

}  // namespace pensieve::server
