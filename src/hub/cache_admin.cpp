#include "hub/cache_admin.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "common/error.h"
#include "hub/cache_layout.h"
#include "hub/repo_ref.h"

namespace pensieve::hub {
namespace fs = std::filesystem;
namespace {

std::uint64_t tree_size(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  return total;
}

// Blob file names the snapshots other than `excluded` link to.
std::set<std::string> blobs_in_use(const RepoCache& cache, const std::set<std::string>& excluded) {
  std::set<std::string> used;
  std::error_code ec;
  for (const auto& snap : fs::directory_iterator(cache.snapshots_dir(), ec)) {
    if (excluded.count(snap.path().filename().string())) continue;
    for (auto it = fs::recursive_directory_iterator(snap.path(), ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_symlink(ec)) used.insert(fs::read_symlink(it->path(), ec).filename().string());
  }
  return used;
}

}  // namespace

std::vector<CachedRepo> list_cached_repos(const fs::path& cache_root) {
  std::vector<CachedRepo> out;
  std::error_code ec;
  if (!fs::is_directory(cache_root, ec)) return out;
  for (const auto& entry : fs::directory_iterator(cache_root, ec)) {
    auto id = repo_id_from_folder_name(entry.path().filename().string());
    if (!id || !entry.is_directory(ec)) continue;
    RepoCache cache(cache_root, *id);
    CachedRepo repo{*id, tree_size(cache.repo_dir()), list_snapshots(cache)};
    out.push_back(std::move(repo));
  }
  std::sort(out.begin(), out.end(), [](const CachedRepo& a, const CachedRepo& b) { return a.repo_id < b.repo_id; });
  return out;
}

RemoveResult remove_cached(const fs::path& cache_root, const std::string& repo_id,
                           const std::optional<std::string>& revision) {
  RepoCache cache(cache_root, repo_id);
  std::error_code ec;
  if (!fs::is_directory(cache.repo_dir(), ec))
    throw Error(repo_id + " is not in the cache at " + cache_root.string());
  RemoveResult result;
  std::set<std::string> doomed;
  for (const auto& snap : fs::directory_iterator(cache.snapshots_dir(), ec))
    if (!revision) doomed.insert(snap.path().filename().string());
  if (revision) {
    auto commit = cache.cached_commit(*revision);
    if (!commit || !fs::is_directory(cache.snapshot_dir(*commit), ec))
      throw Error(repo_id + "@" + *revision + " is not in the cache at " + cache_root.string());
    doomed.insert(*commit);
  }
  result.commits.assign(doomed.begin(), doomed.end());

  std::set<std::string> remaining;
  for (const auto& snap : fs::directory_iterator(cache.snapshots_dir(), ec))
    if (!doomed.count(snap.path().filename().string())) remaining.insert(snap.path().filename().string());
  if (remaining.empty()) {
    // Nothing left worth keeping: the whole folder goes, partial downloads and locks included.
    result.freed_bytes = tree_size(cache.repo_dir());
    fs::remove_all(cache.repo_dir());
    fs::remove_all(cache.locks_dir(), ec);
    result.repo_folder_removed = true;
    return result;
  }
  std::set<std::string> keep = blobs_in_use(cache, doomed);
  std::set<std::string> candidates;
  for (const auto& commit : doomed) {
    fs::path snap = cache.snapshot_dir(commit);
    for (auto it = fs::recursive_directory_iterator(snap, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_symlink(ec)) candidates.insert(fs::read_symlink(it->path(), ec).filename().string());
    result.freed_bytes += tree_size(snap);
    fs::remove_all(snap);
    fs::remove(cache.tree_listing_path(commit), ec);
  }
  for (const auto& blob : candidates) {
    if (keep.count(blob)) continue;
    fs::path p = cache.blobs_dir() / blob;
    if (p.parent_path() != cache.blobs_dir() || blob.empty() || blob == "." || blob == "..") continue;
    if (fs::is_regular_file(p, ec)) {
      result.freed_bytes += fs::file_size(p, ec);
      fs::remove(p, ec);
    }
  }
  // Refs that named a removed snapshot.
  std::vector<fs::path> stale_refs;
  for (auto it = fs::recursive_directory_iterator(cache.refs_dir(), ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path());
    std::string commit;
    std::getline(in, commit);
    if (doomed.count(commit)) stale_refs.push_back(it->path());
  }
  for (const auto& r : stale_refs) fs::remove(r, ec);
  return result;
}

}  // namespace pensieve::hub
