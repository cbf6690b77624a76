#pragma once
// File names come from the server: none of them may write outside the repository's snapshot.
#include <filesystem>
#include <string>

namespace pensieve::hub {

// Throws pensieve::Error unless `path` is a plain relative path: '/'-separated parts, none empty,
// '.' or '..', no backslash, no control character, not absolute.
void validate_repo_file_path(const std::string& path);

// `root`/`relative` after validation, with every existing folder on the way checked to resolve
// inside `root` (a symlinked folder planted in the cache cannot redirect a write).
std::filesystem::path safe_join(const std::filesystem::path& root, const std::string& relative);

// The relative symlink target from the folder holding `link` to `target` ("../../blobs/x").
std::filesystem::path relative_link_target(const std::filesystem::path& link,
                                           const std::filesystem::path& target);

}  // namespace pensieve::hub
