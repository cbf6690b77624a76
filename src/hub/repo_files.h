#pragma once
// The file list of one commit of a repository: what the Hub's revision API reports and what
// trees/<commit>.json records in the cache (huggingface_hub's format, so either side can read
// the other's).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pensieve::hub {

struct RepoFile {
  std::string path;                       // '/'-separated, validated
  std::uint64_t size = 0;
  std::string blob_id;                    // git blob sha1; may be empty if the Hub omitted it
  std::optional<std::string> lfs_sha256;  // set for files stored in LFS

  bool is_lfs() const { return lfs_sha256.has_value(); }
  // The blob's name in the cache: the sha256 for LFS files, the git blob id otherwise.
  std::string etag() const { return is_lfs() ? *lfs_sha256 : blob_id; }
};

struct RepoListing {
  std::string commit;
  std::vector<RepoFile> files;
};

// Parses `GET /api/models/{repo}/revision/{rev}?blobs=true`; validates the commit, every file name
// (no '..', absolute paths, ...) and every hash. Throws pensieve::Error.
RepoListing parse_revision_info(const nlohmann::json& info, const std::string& repo_id);

// trees/<commit>.json: nothing if absent or unreadable.
std::optional<std::vector<RepoFile>> read_tree_listing(const std::filesystem::path& path);
void write_tree_listing(const std::filesystem::path& path, const std::vector<RepoFile>& files);

bool is_sha256_hex(const std::string& s);
bool is_sha1_hex(const std::string& s);

}  // namespace pensieve::hub
