#include "hub/snapshot_status.h"

#include <fstream>
#include <set>

#include "hub/repo_files.h"
#include "hub/repo_ref.h"

namespace pensieve::hub {
namespace fs = std::filesystem;

SnapshotStatus inspect_snapshot(const RepoCache& cache, const std::string& commit) {
  SnapshotStatus s;
  s.commit = commit;
  s.dir = cache.snapshot_dir(commit);
  std::error_code ec;
  std::set<fs::path> counted;
  auto account = [&](const fs::path& p) {
    fs::path real = fs::canonical(p, ec);
    if (ec) return;
    if (counted.insert(real).second) s.size_on_disk += fs::file_size(real, ec);
  };
  if (fs::is_directory(s.dir, ec)) {
    for (auto it = fs::recursive_directory_iterator(s.dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (fs::is_regular_file(it->path(), ec)) {
        ++s.files_present;
        account(it->path());
      }
    }
  }
  auto listing = read_tree_listing(cache.tree_listing_path(commit));
  if (!listing) {
    s.completeness = Completeness::unknown;
    s.problem = "no file list cached for this commit";
    return s;
  }
  const fs::path blobs = fs::weakly_canonical(cache.blobs_dir(), ec);
  for (const auto& f : *listing) {
    fs::path p = s.dir / f.path;
    auto fail = [&](const std::string& why) {
      s.completeness = Completeness::incomplete;
      s.problem = f.path + ": " + why;
    };
    if (!fs::is_regular_file(p, ec)) {
      fail("missing");
      return s;
    }
    if (fs::file_size(p, ec) != f.size) {
      fail("size differs from the Hub's listing");
      return s;
    }
    if (fs::is_symlink(p, ec) && !f.etag().empty()) {
      fs::path real = fs::canonical(p, ec);
      if (ec || real.parent_path() != blobs || real.filename() != f.etag()) {
        fail("not linked to the blob its hash names");
        return s;
      }
    }
  }
  s.completeness = Completeness::complete;
  return s;
}

std::vector<SnapshotStatus> list_snapshots(const RepoCache& cache) {
  std::vector<SnapshotStatus> out;
  std::error_code ec;
  if (!fs::is_directory(cache.snapshots_dir(), ec)) return out;
  for (const auto& entry : fs::directory_iterator(cache.snapshots_dir(), ec)) {
    std::string commit = entry.path().filename().string();
    if (!entry.is_directory()) continue;
    out.push_back(inspect_snapshot(cache, commit));
  }
  if (fs::is_directory(cache.refs_dir(), ec)) {
    for (auto it = fs::recursive_directory_iterator(cache.refs_dir(), ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::string rev = it->path().lexically_relative(cache.refs_dir()).generic_string();
      std::ifstream in(it->path());
      std::string commit;
      std::getline(in, commit);
      for (auto& s : out)
        if (s.commit == commit) s.refs.push_back(rev);
    }
  }
  return out;
}

}  // namespace pensieve::hub
