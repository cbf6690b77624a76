#include "hub/repo_ref.h"

#include <cctype>

#include "common/error.h"

namespace pensieve::hub {
namespace {

constexpr std::size_t kMaxRepoIdLength = 96;  // the Hub's own limit
constexpr std::size_t kMaxRevisionLength = 255;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool valid_name_part(const std::string& part) {
  if (part.empty() || !std::isalnum(static_cast<unsigned char>(part[0]))) return false;
  for (char c : part)
    if (!is_name_char(c)) return false;
  return true;
}

}  // namespace

void validate_repo_id(const std::string& repo_id) {
  const std::string hint = "repository ids look like org/name, e.g. " + std::string(kDefaultModel);
  if (repo_id.size() > kMaxRepoIdLength)
    throw Error("repository id '" + repo_id.substr(0, 40) + "...' is longer than " +
                std::to_string(kMaxRepoIdLength) + " characters");
  auto slash = repo_id.find('/');
  if (slash == std::string::npos || repo_id.find('/', slash + 1) != std::string::npos)
    throw Error("'" + repo_id + "' is not a repository id: " + hint);
  if (!valid_name_part(repo_id.substr(0, slash)) || !valid_name_part(repo_id.substr(slash + 1)))
    throw Error("repository id '" + repo_id +
                "' may only contain letters, digits, '.', '_' and '-', each part starting with a "
                "letter or digit: " + hint);
  // ".." could walk out of a folder; "--" is the separator of cache folder names, so
  // "a--b/c" and "a/b--c" would share one folder.
  if (repo_id.find("..") != std::string::npos || repo_id.find("--") != std::string::npos)
    throw Error("repository id '" + repo_id + "' must not contain '..' or '--'");
}

void validate_revision(const std::string& revision) {
  if (revision.empty()) throw Error("empty revision after '@'");
  if (revision.size() > kMaxRevisionLength)
    throw Error("revision is longer than " + std::to_string(kMaxRevisionLength) + " characters");
  for (char c : revision)
    if (!is_name_char(c) && c != '/')
      throw Error("revision '" + revision +
                  "' may only contain letters, digits, '.', '_', '-' and '/'");
  // Revisions like refs/pr/1 become nested files under refs/: no empty, dot or dot-dot parts.
  std::size_t start = 0;
  while (true) {
    auto end = revision.find('/', start);
    std::string part = revision.substr(start, end == std::string::npos ? end : end - start);
    if (part.empty() || part[0] == '.')
      throw Error("revision '" + revision + "' has an empty part or a part starting with '.'");
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

bool is_commit_hash(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (char c : revision)
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  return true;
}

RepoRef parse_repo_ref(const std::string& text) {
  RepoRef ref;
  auto at = text.find('@');
  ref.repo_id = text.substr(0, at);
  ref.revision = at == std::string::npos ? kDefaultRevision : text.substr(at + 1);
  validate_repo_id(ref.repo_id);
  validate_revision(ref.revision);
  return ref;
}

}  // namespace pensieve::hub
