#include "hub/path_safety.h"

#include "common/error.h"

namespace pensieve::hub {
namespace fs = std::filesystem;

void validate_repo_file_path(const std::string& path) {
  auto refuse = [&](const std::string& why) {
    throw Error("the Hub listed a file named '" + path + "', which " + why +
                "; refusing to write it (nothing outside the repository's cache folder is written)");
  };
  if (path.empty()) refuse("is empty");
  if (path.size() > 1024) refuse("is longer than 1024 characters");
  if (path.front() == '/') refuse("is an absolute path");
  for (char c : path) {
    if (c == '\\') refuse("contains a backslash");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) refuse("contains a control character");
  }
  std::size_t start = 0;
  while (true) {
    auto end = path.find('/', start);
    std::string part = path.substr(start, end == std::string::npos ? end : end - start);
    if (part.empty()) refuse("has an empty path part");
    if (part == "." || part == "..") refuse("contains a '" + part + "' part");
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

fs::path safe_join(const fs::path& root, const std::string& relative) {
  validate_repo_file_path(relative);
  fs::path joined = root / relative;
  // Folders already on disk might be symlinks planted by someone else: resolve them.
  std::error_code ec;
  fs::path real_root = fs::weakly_canonical(root, ec);
  fs::path real_parent = fs::weakly_canonical(joined.parent_path(), ec);
  if (ec) throw Error("cannot resolve " + joined.parent_path().string() + ": " + ec.message());
  auto rel = real_parent.lexically_relative(real_root);
  if (rel.empty() || *rel.begin() == "..")
    throw Error("the file '" + relative + "' would be written outside " + root.string() +
                " through a symbolic link; refusing");
  return joined;
}

fs::path relative_link_target(const fs::path& link, const fs::path& target) {
  return target.lexically_relative(link.parent_path());
}

}  // namespace pensieve::hub
