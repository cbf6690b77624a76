#pragma once
// What the cache holds of one commit, found without any network access.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hub/cache_layout.h"

namespace pensieve::hub {

enum class Completeness { complete, incomplete, unknown };

struct SnapshotStatus {
  std::string commit;
  std::filesystem::path dir;
  std::vector<std::string> refs;     // revisions (branches, tags) that point at this commit
  std::uint64_t size_on_disk = 0;    // bytes of the distinct files it uses
  std::size_t files_present = 0;
  Completeness completeness = Completeness::unknown;
  std::string problem;               // why it is incomplete ("missing model.safetensors")
};

// Complete: the commit's file list (trees/<commit>.json) is cached and every file is in the
// snapshot at its listed size, linked to the blob its hash names (blobs are only ever renamed into
// place after their hash was checked). Unknown: no file list (a cache from an older tool).
SnapshotStatus inspect_snapshot(const RepoCache& cache, const std::string& commit);

// All snapshots of a repository, refs attached.
std::vector<SnapshotStatus> list_snapshots(const RepoCache& cache);

}  // namespace pensieve::hub
