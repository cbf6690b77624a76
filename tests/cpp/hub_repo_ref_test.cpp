// Repository ids and revisions: what the Hub accepts, and nothing that could name another folder.
#include <gtest/gtest.h>

#include "common/error.h"
#include "hub/repo_ref.h"

using pensieve::Error;
using namespace pensieve::hub;

TEST(HubRepoRef, ParsesIdAndRevision) {
  auto r = parse_repo_ref("mlx-community/Phi-3-mini-128k-instruct-4bit");
  EXPECT_EQ(r.repo_id, "mlx-community/Phi-3-mini-128k-instruct-4bit");
  EXPECT_EQ(r.revision, "main");
  r = parse_repo_ref("org/name.v2_x@refs/pr/1");
  EXPECT_EQ(r.repo_id, "org/name.v2_x");
  EXPECT_EQ(r.revision, "refs/pr/1");
}

TEST(HubRepoRef, RefusesMalformedIds) {
  for (const char* bad : {"name", "org/name/x", "/org/name", "org/", "/name", ".org/name",
                          "org/-name", "org/na me", "org/..", "org/a..b", "a--b/c", "org/n\\x",
                          "org/name\n", ""})
    EXPECT_THROW(validate_repo_id(bad), Error) << bad;
  EXPECT_THROW(validate_repo_id("org/" + std::string(93, 'n')), Error);  // 97 characters
  EXPECT_NO_THROW(validate_repo_id("org/" + std::string(92, 'n')));     // 96 characters
}

TEST(HubRepoRef, RefusesRevisionsThatWalkOutOfRefs) {
  for (const char* bad : {"", "..", "../x", "a/../b", "/abs", "a//b", "a/", ".hidden", "a b", "a\\b"})
    EXPECT_THROW(validate_revision(bad), Error) << bad;
  EXPECT_THROW(validate_revision(std::string(256, 'a')), Error);
  EXPECT_NO_THROW(validate_revision("v1.0-rc_2"));
  EXPECT_THROW(parse_repo_ref("org/name@"), Error);
}

TEST(HubRepoRef, RecognisesFullCommitHashes) {
  EXPECT_TRUE(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("0123456"));
  EXPECT_FALSE(is_commit_hash("main"));
}
