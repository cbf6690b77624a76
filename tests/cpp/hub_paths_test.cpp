// File names from the server, and where the cache puts things (huggingface_hub's layout).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "hub/cache_layout.h"
#include "hub/path_safety.h"

using pensieve::Error;
using namespace pensieve::hub;
namespace fs = std::filesystem;

TEST(HubPathSafety, AcceptsPlainRelativePaths) {
  for (const char* ok : {"config.json", "a/b/c.safetensors", "..x", "x..", "a/.hidden"})
    EXPECT_NO_THROW(validate_repo_file_path(ok)) << ok;
}

TEST(HubPathSafety, RefusesEscapes) {
  for (const char* bad : {"", "../evil", "a/../../evil", "..", ".", "a/./b", "/etc/passwd",
                          "a\\..\\evil", "a//b", "a/", "a\tb"})
    EXPECT_THROW(validate_repo_file_path(bad), Error) << bad;
}

TEST(HubPathSafety, SafeJoinRefusesASymlinkedFolderLeadingOutside) {
  fs::path root = fs::temp_directory_path() / ("pensieve_safe_join_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "snap");
  fs::create_directories(root / "outside");
  fs::create_directory_symlink(root / "outside", root / "snap" / "docs");
  EXPECT_EQ(safe_join(root / "snap", "a/b.txt"), root / "snap" / "a" / "b.txt");
  EXPECT_THROW(safe_join(root / "snap", "docs/x.txt"), Error);
  fs::create_directory_symlink(root / "snap" / "inner_target", root / "snap" / "inner");
  fs::create_directories(root / "snap" / "inner_target");
  EXPECT_NO_THROW(safe_join(root / "snap", "inner/x.txt"));  // stays inside: fine
  fs::remove_all(root);
}

TEST(HubPathSafety, RelativeLinkTargetsClimbOneLevelPerFolder) {
  fs::path repo = "/c/models--o--n";
  EXPECT_EQ(relative_link_target(repo / "snapshots/abc/config.json", repo / "blobs/e1"),
            fs::path("../../blobs/e1"));
  EXPECT_EQ(relative_link_target(repo / "snapshots/abc/a/b/w.bin", repo / "blobs/e2"),
            fs::path("../../../../blobs/e2"));
}

TEST(HubCacheLayout, MatchesHuggingfaceHubPaths) {
  RepoCache c("/cache", "org/name");
  EXPECT_EQ(repo_folder_name("org/name"), "models--org--name");
  EXPECT_EQ(c.blob_path("abc"), fs::path("/cache/models--org--name/blobs/abc"));
  EXPECT_EQ(c.incomplete_path("abc"), fs::path("/cache/models--org--name/blobs/abc.incomplete"));
  EXPECT_EQ(c.lock_path("abc"), fs::path("/cache/.locks/models--org--name/abc.lock"));
  EXPECT_EQ(c.snapshot_dir("c0"), fs::path("/cache/models--org--name/snapshots/c0"));
  EXPECT_EQ(c.ref_path("refs/pr/1"), fs::path("/cache/models--org--name/refs/refs/pr/1"));
  EXPECT_EQ(c.tree_listing_path("c0"), fs::path("/cache/models--org--name/trees/c0.json"));
  EXPECT_EQ(repo_id_from_folder_name("models--org--name"), "org/name");
  EXPECT_EQ(repo_id_from_folder_name("datasets--org--name"), std::nullopt);
  EXPECT_THROW(RepoCache("/cache", "../x"), Error);
}

TEST(HubCacheLayout, NormalisesEtagsLikeHuggingfaceHub) {
  EXPECT_EQ(normalize_etag("\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("W/\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("abc"), "abc");
  EXPECT_THROW(validate_etag("../x"), Error);
  EXPECT_THROW(validate_etag(""), Error);
  EXPECT_NO_THROW(validate_etag("0123abcdef"));
}

TEST(HubCacheLayout, CacheFolderFollowsTheEnvironmentInHuggingfaceHubOrder) {
  auto saved = [](const char* n) { const char* v = std::getenv(n); return v ? std::optional<std::string>(v) : std::nullopt; };
  auto hub_cache = saved("HF_HUB_CACHE"), home = saved("HF_HOME"), xdg = saved("XDG_CACHE_HOME");
  ::setenv("HF_HUB_CACHE", "/a/hub", 1);
  ::setenv("HF_HOME", "/b", 1);
  ::setenv("XDG_CACHE_HOME", "/c", 1);
  EXPECT_EQ(default_hub_cache_dir(), fs::path("/a/hub"));
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(default_hub_cache_dir(), fs::path("/b/hub"));
  ::unsetenv("HF_HOME");
  EXPECT_EQ(default_hub_cache_dir(), fs::path("/c/huggingface/hub"));
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(default_hub_cache_dir(), fs::path(std::getenv("HOME")) / ".cache/huggingface/hub");
  auto restore = [](const char* n, const std::optional<std::string>& v) { if (v) ::setenv(n, v->c_str(), 1); };
  restore("HF_HUB_CACHE", hub_cache);
  restore("HF_HOME", home);
  restore("XDG_CACHE_HOME", xdg);
}
