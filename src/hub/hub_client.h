#pragma once
// `org/name[@revision]` -> a complete, verified snapshot folder in the Hugging Face cache.
#include <filesystem>
#include <optional>
#include <string>

#include "hub/hub_config.h"
#include "hub/repo_files.h"
#include "hub/repo_ref.h"

namespace pensieve::hub {

struct PullOptions {
  bool quiet = false;  // no progress display
};

class HubClient {
 public:
  explicit HubClient(HubConfig config);

  // A complete snapshot of `ref` already in the cache, found with no network access.
  std::optional<std::filesystem::path> cached_snapshot(const RepoRef& ref) const;

  // Downloads whatever `ref` misses and returns its snapshot folder. With HF_HUB_OFFLINE, or
  // when the Hub cannot be reached, a complete cached snapshot is used as it is; a full commit
  // hash that is complete in the cache needs no request at all. Throws pensieve::Error
  // (downloader.h's Interrupted on Ctrl-C).
  std::filesystem::path pull(const RepoRef& ref, const PullOptions& options);

  // The file list of `ref` from the Hub (one request, retried on transient failures unless
  // `single_attempt`).
  RepoListing fetch_listing(const RepoRef& ref, bool single_attempt);

  const HubConfig& config() const { return config_; }

 private:
  std::filesystem::path download_snapshot(const RepoRef& ref, RepoListing listing,
                                          const PullOptions& options);
  HubConfig config_;
};

// Unreachable Hub (connection refused, DNS, connect timeout) as opposed to any other failure.
class HubUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pensieve::hub
