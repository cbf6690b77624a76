#include "hub/hub_config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "common/error.h"
#include "hub/cache_layout.h"

namespace pensieve::hub {
namespace {

double env_number(const char* name, double fallback, double min, double max) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || d < min || d > max)
    throw Error(std::string(name) + "='" + v + "' is not a number between " +
                std::to_string(min) + " and " + std::to_string(max));
  return d;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}

}  // namespace

bool env_flag_true(const char* value) {
  if (!value) return false;
  std::string v(value);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

HubConfig HubConfig::from_env() {
  HubConfig c;
  if (const char* e = std::getenv("HF_ENDPOINT"); e && *e) c.endpoint = e;
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (const char* t = std::getenv("HF_TOKEN"); t && *t) {
    c.token = trim(t);
  } else {
    // The file `hf auth login` writes: HF_TOKEN_PATH, else HF_HOME/token.
    const char* p = std::getenv("HF_TOKEN_PATH");
    std::filesystem::path token_file = (p && *p) ? std::filesystem::path(p) : hf_home_dir() / "token";
    std::ifstream in(token_file);
    std::string token;
    if (in && std::getline(in, token) && !trim(token).empty()) c.token = trim(token);
  }
  c.offline = env_flag_true(std::getenv("HF_HUB_OFFLINE"));
  c.cache_dir = default_hub_cache_dir();
  c.connect_timeout_s = static_cast<long>(env_number("PENSIEVE_HUB_CONNECT_TIMEOUT_S", 10, 1, 600));
  c.stall_timeout_s = static_cast<long>(env_number("PENSIEVE_HUB_TIMEOUT_S", 30, 1, 3600));
  c.backoff.max_attempts = static_cast<int>(env_number("PENSIEVE_HUB_RETRIES", 6, 1, 100));
  c.backoff.base_s = env_number("PENSIEVE_HUB_BACKOFF_S", 1.0, 0, 600);
  c.backoff.max_s = env_number("PENSIEVE_HUB_BACKOFF_MAX_S", 30.0, 0, 3600);
  c.parallel_files = static_cast<int>(env_number("PENSIEVE_HUB_JOBS", 4, 1, 32));
  c.progress_interval_s = env_number("PENSIEVE_PROGRESS_INTERVAL_S", 5.0, 0.05, 3600);
  return c;
}

}  // namespace pensieve::hub
