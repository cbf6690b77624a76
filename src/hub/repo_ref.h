#pragma once
// Hugging Face repository ids and revisions as users type them: `org/name[@revision]`.
#include <string>

namespace pensieve::hub {

inline constexpr const char* kDefaultModel = "mlx-community/Phi-3-mini-128k-instruct-4bit";
inline constexpr const char* kDefaultRevision = "main";

struct RepoRef {
  std::string repo_id;   // "org/name"
  std::string revision;  // branch, tag or commit hash
};

// Parses and validates `org/name` or `org/name@revision`; throws pensieve::Error on a bad id.
RepoRef parse_repo_ref(const std::string& text);

// Both throw pensieve::Error saying what is wrong. Ids end up as folder names and revisions as
// file names under refs/, so anything that could name another folder is refused.
void validate_repo_id(const std::string& repo_id);
void validate_revision(const std::string& revision);

// A full 40-digit lower-case hex commit id (immutable, so a cached snapshot of it is final).
bool is_commit_hash(const std::string& revision);

}  // namespace pensieve::hub
