#pragma once
// When to try a request again, and how long to wait first.
#include <ctime>
#include <optional>
#include <string_view>

namespace pensieve::hub {

struct BackoffPolicy {
  double base_s = 1.0;   // first wait
  double max_s = 30.0;   // cap on one wait
  int max_attempts = 6;  // attempts in a row without progress before giving up
};

// Exponential backoff with jitter: base * 2^attempt (capped at max), scaled into [50%, 100%] by
// `unit_random` in [0, 1) so that many clients do not retry in lock step.
double backoff_delay_s(const BackoffPolicy& policy, int attempt, double unit_random);

// Retry-After: delta-seconds or an HTTP-date (relative to `now`); nothing when unparseable.
std::optional<double> parse_retry_after(std::string_view value, std::time_t now);

// Statuses worth retrying: 408 request timeout, 429 too many requests, every 5xx.
bool is_retryable_status(long status);

}  // namespace pensieve::hub
