#pragma once
// Settings of the Hub client, from the environment variables huggingface_hub reads (HF_ENDPOINT,
// HF_TOKEN, HF_HUB_OFFLINE) and Pensieve's own tuning knobs (PENSIEVE_HUB_*).
#include <filesystem>
#include <optional>
#include <string>

#include "hub/retry_policy.h"

namespace pensieve::hub {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::optional<std::string> token;                 // sent as "Authorization: Bearer"
  std::string user_agent = "pensieve/0.1";
  long connect_timeout_s = 10;
  long stall_timeout_s = 30;  // a transfer with no byte for this long is retried
  BackoffPolicy backoff;
  int parallel_files = 4;
  bool offline = false;
  std::filesystem::path cache_dir;
  double progress_interval_s = 5.0;  // between progress lines when stderr is not a terminal

  // HF_ENDPOINT, HF_TOKEN (else the token file of `hf auth login`), HF_HUB_OFFLINE, the cache
  // folder (cache_layout.h), PENSIEVE_HUB_CONNECT_TIMEOUT_S, PENSIEVE_HUB_TIMEOUT_S,
  // PENSIEVE_HUB_RETRIES, PENSIEVE_HUB_BACKOFF_S, PENSIEVE_HUB_BACKOFF_MAX_S, PENSIEVE_HUB_JOBS,
  // PENSIEVE_PROGRESS_INTERVAL_S.
  static HubConfig from_env();
};

// huggingface_hub's notion of a true environment value: 1, ON, YES or TRUE in any case.
bool env_flag_true(const char* value);

}  // namespace pensieve::hub
