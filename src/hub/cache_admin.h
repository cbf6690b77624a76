#pragma once
// `pensieve list` and `pensieve rm`: what the cache holds, and removing it.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/snapshot_status.h"

namespace pensieve::hub {

struct CachedRepo {
  std::string repo_id;
  std::uint64_t size_on_disk = 0;  // every file under its folder (partial downloads included)
  std::vector<SnapshotStatus> snapshots;
};

std::vector<CachedRepo> list_cached_repos(const std::filesystem::path& cache_root);

struct RemoveResult {
  std::vector<std::string> commits;  // snapshots removed
  std::uint64_t freed_bytes = 0;
  bool repo_folder_removed = false;
};

// Removes the snapshot `revision` names (every snapshot when empty), the refs pointing at it and
// the blobs no remaining snapshot uses; the whole repository folder when nothing remains.
// Throws pensieve::Error when the cache has nothing of that repository or revision.
RemoveResult remove_cached(const std::filesystem::path& cache_root, const std::string& repo_id,
                           const std::optional<std::string>& revision);

}  // namespace pensieve::hub
