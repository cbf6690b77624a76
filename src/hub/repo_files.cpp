#include "hub/repo_files.h"

#include <unistd.h>

#include <cctype>
#include <fstream>

#include "common/error.h"
#include "hub/path_safety.h"
#include "hub/repo_ref.h"

namespace pensieve::hub {
namespace fs = std::filesystem;

namespace {
bool is_lower_hex(const std::string& s, std::size_t length) {
  if (s.size() != length) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  return true;
}
}  // namespace

bool is_sha256_hex(const std::string& s) { return is_lower_hex(s, 64); }
bool is_sha1_hex(const std::string& s) { return is_lower_hex(s, 40); }

RepoListing parse_revision_info(const nlohmann::json& info, const std::string& repo_id) {
  const std::string what = "the Hub's answer for " + repo_id;
  if (!info.is_object() || !info.contains("sha") || !info["sha"].is_string())
    throw Error(what + " has no commit id (\"sha\")");
  RepoListing listing;
  listing.commit = info["sha"].get<std::string>();
  if (!is_commit_hash(listing.commit)) throw Error(what + " has a malformed commit id");
  if (!info.contains("siblings") || !info["siblings"].is_array())
    throw Error(what + " has no file list (\"siblings\")");
  for (const auto& s : info["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string())
      throw Error(what + " lists a file without a name");
    RepoFile f;
    f.path = s["rfilename"].get<std::string>();
    validate_repo_file_path(f.path);
    if (s.contains("blobId") && s["blobId"].is_string()) f.blob_id = s["blobId"].get<std::string>();
    if (!f.blob_id.empty() && !is_sha1_hex(f.blob_id))
      throw Error(what + " has a malformed blob id for " + f.path);
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& lfs = s["lfs"];
      std::string sha = lfs.value("sha256", lfs.value("oid", std::string()));
      if (!is_sha256_hex(sha)) throw Error(what + " has a malformed SHA-256 for " + f.path);
      f.lfs_sha256 = sha;
      if (lfs.contains("size") && lfs["size"].is_number_unsigned()) f.size = lfs["size"];
    }
    if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"];
    listing.files.push_back(std::move(f));
  }
  return listing;
}

std::optional<std::vector<RepoFile>> read_tree_listing(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(in);
    if (j.value("format_version", 0) != 1 || !j.contains("files") || !j["files"].is_object())
      return std::nullopt;
    std::vector<RepoFile> files;
    for (const auto& [name, info] : j["files"].items()) {
      RepoFile f;
      f.path = name;
      validate_repo_file_path(f.path);
      f.size = info.at("size").get<std::uint64_t>();
      f.blob_id = info.value("blob_id", std::string());
      if (info.contains("lfs_sha256") && info["lfs_sha256"].is_string())
        f.lfs_sha256 = info["lfs_sha256"].get<std::string>();
      files.push_back(std::move(f));
    }
    return files;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged listing is as good as none: it is fetched again
  }
}

void write_tree_listing(const fs::path& path, const std::vector<RepoFile>& files) {
  nlohmann::json out_files = nlohmann::json::object();
  for (const auto& f : files) {
    nlohmann::json info = {{"size", f.size}, {"blob_id", f.blob_id}};
    if (f.lfs_sha256) {
      info["lfs_sha256"] = *f.lfs_sha256;
      info["lfs_size"] = f.size;
    }
    out_files[f.path] = info;
  }
  nlohmann::json doc = {{"format_version", 1}, {"files", out_files}};
  fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".";
  tmp += std::to_string(::getpid());
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump(1);
    if (!out) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

}  // namespace pensieve::hub
