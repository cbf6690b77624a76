#pragma once
// The cache layout of huggingface_hub, so Pensieve, mlx-lm, transformers and the `hf` CLI share one
// copy of each model:
//   <cache>/models--org--name/blobs/<etag>                    file contents, named by etag
//   <cache>/models--org--name/blobs/<etag>.incomplete         a partial download
//   <cache>/models--org--name/snapshots/<commit>/<path>       relative symlink to ../../blobs/<etag>
//   <cache>/models--org--name/refs/<revision>                 the commit a branch or tag pointed to
//   <cache>/models--org--name/trees/<commit>.json             the file list of that commit
//   <cache>/.locks/models--org--name/<etag>.lock              flock'ed by whoever writes the blob
#include <filesystem>
#include <optional>
#include <string>

namespace pensieve::hub {

// HF_HOME, else XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
std::filesystem::path hf_home_dir();

// HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (the order huggingface_hub uses).
std::filesystem::path default_hub_cache_dir();

// "org/name" -> "models--org--name".
std::string repo_folder_name(const std::string& repo_id);

// The repository id of a "models--org--name" folder, or nothing for any other folder.
std::optional<std::string> repo_id_from_folder_name(const std::string& folder);

// ETag header -> the blob's file name: without a weak "W/" prefix and the quotes.
std::string normalize_etag(const std::string& etag);

// Throws pensieve::Error unless `etag` is safe as one file name (letters, digits, '-', '_').
void validate_etag(const std::string& etag);

class RepoCache {
 public:
  RepoCache(std::filesystem::path cache_root, std::string repo_id);

  const std::filesystem::path& cache_root() const { return root_; }
  const std::string& repo_id() const { return repo_id_; }
  std::filesystem::path repo_dir() const;
  std::filesystem::path blobs_dir() const;
  std::filesystem::path blob_path(const std::string& etag) const;
  std::filesystem::path incomplete_path(const std::string& etag) const;
  std::filesystem::path lock_path(const std::string& etag) const;
  std::filesystem::path locks_dir() const;
  std::filesystem::path snapshots_dir() const;
  std::filesystem::path snapshot_dir(const std::string& commit) const;
  std::filesystem::path refs_dir() const;
  std::filesystem::path ref_path(const std::string& revision) const;
  std::filesystem::path tree_listing_path(const std::string& commit) const;

  // The commit `revision` names: itself when a commit hash, else the content of refs/<revision>.
  std::optional<std::string> cached_commit(const std::string& revision) const;
  // Points refs/<revision> at `commit` (atomically: readers never see half a ref).
  void write_ref(const std::string& revision, const std::string& commit) const;

 private:
  std::filesystem::path root_;
  std::string repo_id_;
};

}  // namespace pensieve::hub
