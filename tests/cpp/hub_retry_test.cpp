// Backoff, Retry-After, hashes and the progress summary: the pure pieces of the downloader.
#include <gtest/gtest.h>

#include "common/error.h"
#include "hub/digest.h"
#include "hub/disk_space.h"
#include "hub/progress.h"
#include "hub/retry_policy.h"

using namespace pensieve::hub;

TEST(HubRetry, BackoffDoublesWithJitterAndIsCapped) {
  BackoffPolicy p{1.0, 30.0, 6};
  EXPECT_DOUBLE_EQ(backoff_delay_s(p, 0, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(backoff_delay_s(p, 0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(p, 3, 1.0), 8.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(p, 3, 0.0), 4.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(p, 10, 1.0), 30.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(p, 1000, 0.5), 22.5);
}

TEST(HubRetry, ParsesRetryAfterSecondsAndDates) {
  std::time_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)
  EXPECT_EQ(parse_retry_after("120", now), 120.0);
  EXPECT_EQ(parse_retry_after(" 3 ", now), 3.0);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), 10.0);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), 0.0);  // in the past
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
}

TEST(HubRetry, RetriesOnlyTransientStatuses) {
  for (long s : {408L, 429L, 500L, 502L, 503L, 504L}) EXPECT_TRUE(is_retryable_status(s)) << s;
  for (long s : {200L, 206L, 400L, 401L, 403L, 404L, 416L}) EXPECT_FALSE(is_retryable_status(s)) << s;
}

TEST(HubDigest, Sha256AndGitBlobIdMatchKnownValues) {
  Digest sha(Digest::Kind::sha256, 3);
  sha.update("abc", 3);
  EXPECT_EQ(sha.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // `printf 'hello\n' | git hash-object --stdin`
  Digest git(Digest::Kind::git_blob_sha1, 6);
  git.update("hel", 3);
  git.update("lo\n", 3);
  EXPECT_EQ(git.hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
  git.reset();
  git.update("hello\n", 6);
  EXPECT_EQ(git.hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST(HubProgress, SummaryCarriesSizesSpeedAndEta) {
  EXPECT_EQ(ProgressDisplay::summary(1024 * 1024, 4 * 1024 * 1024, 1024 * 1024),
            "1.0 MiB / 4.0 MiB (25%) at 1.0 MiB/s, ETA 3s");
  EXPECT_EQ(ProgressDisplay::summary(0, 2048, 0), "0 B / 2.0 KiB (0%) at 0 B/s, ETA ?");
  EXPECT_EQ(ProgressDisplay::summary(0, 3600ull * 1024 * 1024 * 2, 1024 * 1024),
            "0 B / 7.0 GiB (0%) at 1.0 MiB/s, ETA 2h00m");
}

TEST(HubDiskSpace, MarginAndFormatting) {
  EXPECT_EQ(disk_margin(0), 8ull << 20);
  EXPECT_EQ(disk_margin(1000ull << 20), (10ull << 20) + (8ull << 20));
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_NO_THROW(check_disk_space("/tmp", 0));
  EXPECT_THROW(check_disk_space("/tmp", 1ull << 60), pensieve::Error);
}
