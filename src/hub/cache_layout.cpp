#include "hub/cache_layout.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "hub/repo_ref.h"

namespace pensieve::hub {
namespace fs = std::filesystem;

namespace {
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
fs::path expand_home(const std::string& p) {
  if (p.rfind("~/", 0) == 0 || p == "~") return fs::path(env_or_empty("HOME")) / p.substr(p.size() > 1 ? 2 : 1);
  return p;
}
}  // namespace

fs::path hf_home_dir() {
  if (auto v = env_or_empty("HF_HOME"); !v.empty()) return expand_home(v);
  if (auto v = env_or_empty("XDG_CACHE_HOME"); !v.empty()) return expand_home(v) / "huggingface";
  return fs::path(env_or_empty("HOME")) / ".cache" / "huggingface";
}

fs::path default_hub_cache_dir() {
  if (auto v = env_or_empty("HF_HUB_CACHE"); !v.empty()) return expand_home(v);
  return hf_home_dir() / "hub";
}

std::string repo_folder_name(const std::string& repo_id) {
  std::string out = "models--";
  for (char c : repo_id) {
    if (c == '/')
      out += "--";
    else
      out += c;
  }
  return out;
}

std::optional<std::string> repo_id_from_folder_name(const std::string& folder) {
  const std::string prefix = "models--";
  if (folder.rfind(prefix, 0) != 0) return std::nullopt;
  std::string rest = folder.substr(prefix.size());
  auto sep = rest.find("--");
  if (sep == std::string::npos) return std::nullopt;
  std::string id = rest.substr(0, sep) + "/" + rest.substr(sep + 2);
  try {
    validate_repo_id(id);
  } catch (const Error&) {
    return std::nullopt;
  }
  return id;
}

std::string normalize_etag(const std::string& etag) {
  std::string e = etag;
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  while (!e.empty() && e.front() == '"') e.erase(e.begin());
  while (!e.empty() && e.back() == '"') e.pop_back();
  return e;
}

void validate_etag(const std::string& etag) {
  bool ok = !etag.empty() && etag.size() <= 128;
  for (char c : etag)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') ok = false;
  if (!ok) throw Error("the Hub sent an unusable ETag '" + etag.substr(0, 80) + "'");
}

RepoCache::RepoCache(fs::path cache_root, std::string repo_id)
    : root_(std::move(cache_root)), repo_id_(std::move(repo_id)) {
  validate_repo_id(repo_id_);
}

fs::path RepoCache::repo_dir() const { return root_ / repo_folder_name(repo_id_); }
fs::path RepoCache::blobs_dir() const { return repo_dir() / "blobs"; }
fs::path RepoCache::blob_path(const std::string& etag) const { return blobs_dir() / etag; }
fs::path RepoCache::incomplete_path(const std::string& etag) const {
  return blobs_dir() / (etag + ".incomplete");
}
fs::path RepoCache::locks_dir() const { return root_ / ".locks" / repo_folder_name(repo_id_); }
fs::path RepoCache::lock_path(const std::string& etag) const {
  return locks_dir() / (etag + ".lock");
}
fs::path RepoCache::snapshots_dir() const { return repo_dir() / "snapshots"; }
fs::path RepoCache::snapshot_dir(const std::string& commit) const {
  return snapshots_dir() / commit;
}
fs::path RepoCache::refs_dir() const { return repo_dir() / "refs"; }
fs::path RepoCache::ref_path(const std::string& revision) const {
  validate_revision(revision);
  return refs_dir() / revision;
}
fs::path RepoCache::tree_listing_path(const std::string& commit) const {
  return repo_dir() / "trees" / (commit + ".json");
}

std::optional<std::string> RepoCache::cached_commit(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream in(ref_path(revision));
  if (!in) return std::nullopt;
  std::string commit;
  std::getline(in, commit);
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  fs::path path = ref_path(revision);
  fs::create_directories(path.parent_path());
  if (cached_commit(revision) == commit) return;
  fs::path tmp = path;
  tmp += ".";
  tmp += std::to_string(::getpid());
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << commit;
    if (!out) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

}  // namespace pensieve::hub
