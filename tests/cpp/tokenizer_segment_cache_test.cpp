// The segment cache behind Tokenizer::encode: a long segment sent again is served from it with
// the very tokens a fresh encode gives (at the input's start or after a special token alike),
// short segments are not kept, and the cache stays within its byte budget.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/segment_cache.h"
#include "tokenizer/tokenizer.h"

namespace {

using pensieve::tokenizer::SegmentCache;
using pensieve::tokenizer::TokenId;
using pensieve::tokenizer::Tokenizer;
namespace fs = std::filesystem;

Tokenizer fresh_phi3() {
  return Tokenizer::from_directory(fs::path(PENSIEVE_SOURCE_DIR) / "tests" / "fixtures" / "phi3-tokenizer");
}

std::string long_text(const std::string& seed) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += seed + " line " + std::to_string(i) + ":\tfoo(bar, \"baz\") → ünïcödé  \n";
  return text;
}

TEST(TokenizerSegmentCache, RepeatedSegmentsComeFromTheCacheWithTheSameTokens) {
  const Tokenizer tok = fresh_phi3();
  const std::string system = long_text("You are a coding assistant.");
  const std::string first = "<|system|>" + system + "<|end|><|user|>" + long_text("question one") + "<|end|>";
  const std::string second = first + "<|assistant|>" + long_text("answer one") + "<|end|><|user|>hi<|end|>";

  const auto first_ids = tok.encode(first, true);
  const auto after_first = tok.segment_cache_stats();
  EXPECT_EQ(after_first.hits, 0u);
  EXPECT_EQ(after_first.entries, 2u);  // the two long segments; no short ones

  // The conversation sent again with a new turn: its first two segments are hits.
  const auto second_ids = tok.encode(second, true);
  const auto after_second = tok.segment_cache_stats();
  EXPECT_EQ(after_second.hits, 2u);
  EXPECT_EQ(second_ids, fresh_phi3().encode(second, true));
  EXPECT_EQ(std::vector<TokenId>(second_ids.begin(), second_ids.begin() + static_cast<long>(first_ids.size())),
            first_ids);

  // The system text at the start of the input is a new entry (a tokenizer may prepend "▁" at
  // the input's start only); after a special token it is the one the first request stored.
  const auto before = tok.segment_cache_stats();
  EXPECT_EQ(tok.encode(system, false), fresh_phi3().encode(system, false));
  EXPECT_EQ(tok.encode("<|user|>" + system, false), fresh_phi3().encode("<|user|>" + system, false));
  EXPECT_EQ(tok.segment_cache_stats().entries, before.entries + 1);
  EXPECT_EQ(tok.segment_cache_stats().hits, before.hits + 1);

  tok.clear_segment_cache();
  EXPECT_EQ(tok.segment_cache_stats().entries, 0u);
  EXPECT_EQ(tok.encode(second, true), second_ids);
}

TEST(TokenizerSegmentCache, StaysWithinItsBudgetAndDropsTheLeastRecentlyUsed) {
  SegmentCache cache(4096);
  const std::vector<int32_t> ids(100, 7);  // 400 bytes of tokens
  const auto text = [](char c) { return std::string(600, c); };
  cache.store(text('a'), false, ids);
  cache.store(text('b'), false, ids);
  std::vector<int32_t> out;
  EXPECT_TRUE(cache.lookup(text('a'), false, out));  // a is now the most recent
  EXPECT_FALSE(cache.lookup(text('a'), true, out));  // the start flag is part of the key
  for (char c : {'c', 'd', 'e'}) cache.store(text(c), false, ids);
  const auto s = cache.stats();
  EXPECT_LE(s.bytes, 4096u);
  EXPECT_EQ(s.entries, 4u);                           // 1001 bytes each
  EXPECT_FALSE(cache.lookup(text('b'), false, out));  // least recently used: evicted
  EXPECT_TRUE(cache.lookup(text('a'), false, out));
  EXPECT_EQ(out.size(), 200u);

  cache.store(std::string(100, 'x'), false, ids);  // short: not kept
  cache.store(std::string(5000, 'y'), false, ids);  // over the whole budget: not kept
  EXPECT_EQ(cache.stats().entries, 4u);
}

}  // namespace
