#include "hub/retry_policy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <time.h>
#include <string>

namespace pensieve::hub {

double backoff_delay_s(const BackoffPolicy& policy, int attempt, double unit_random) {
  double exp = policy.base_s * std::pow(2.0, std::clamp(attempt, 0, 30));
  double capped = std::min(exp, policy.max_s);
  return capped * (0.5 + 0.5 * std::clamp(unit_random, 0.0, 1.0));
}

std::optional<double> parse_retry_after(std::string_view value, std::time_t now) {
  std::string v(value);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(v.begin());
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (v.size() > 9) return std::nullopt;
    return std::stod(v);
  }
  std::tm tm{};
  const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  std::time_t at = timegm(&tm);
  return std::max(0.0, std::difftime(at, now));
}

bool is_retryable_status(long status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace pensieve::hub
