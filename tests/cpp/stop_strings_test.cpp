// StopStringMatcher against a brute-force reference: the cut is where the first stop string
// completes (smallest end, then earliest start), and before that only text that cannot begin a
// stop string is released.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sampling/sampler.h"

namespace {

using pensieve::sampling::StopStringMatcher;

struct Outcome {
  std::string emitted;  // everything push and flush returned, in order
  bool stopped = false;
  std::string matched;
};

Outcome feed(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopStringMatcher matcher(stops);
  Outcome out;
  for (const std::string& piece : pieces) out.emitted += matcher.push(piece);
  out.emitted += matcher.flush();
  out.stopped = matcher.stopped();
  if (matcher.matched()) out.matched = *matcher.matched();
  return out;
}

// Brute force over every end position, then every stop.
Outcome reference(const std::vector<std::string>& stops, const std::string& text) {
  for (std::size_t end = 1; end <= text.size(); ++end) {
    const std::string* best = nullptr;
    for (const std::string& stop : stops) {
      if (stop.empty() || stop.size() > end) continue;
      if (text.compare(end - stop.size(), stop.size(), stop) != 0) continue;
      if (best == nullptr || stop.size() > best->size()) best = &stop;
    }
    if (best != nullptr) return {text.substr(0, end - best->size()), true, *best};
  }
  return {text, false, ""};
}

TEST(StopStrings, StopInsideOneToken) {
  StopStringMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.push("hello STOP and more"), "hello ");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(*matcher.matched(), "STOP");
  EXPECT_EQ(matcher.push("ignored"), "");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopStrings, StopSpanningTokensIsHeldBack) {
  StopStringMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.push("hel"), "hel");
  EXPECT_EQ(matcher.push("lo S"), "lo ");
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.push("T"), "");
  EXPECT_EQ(matcher.push("OP!"), "");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopStrings, FalseAlarmReleasesTheHeldText) {
  StopStringMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.push("a ST"), "a ");
  EXPECT_EQ(matcher.push("ART"), "START");
  EXPECT_FALSE(matcher.stopped());
}

TEST(StopStrings, OverlappingPrefixes) {
  {
    StopStringMatcher matcher({"abc"});
    EXPECT_EQ(matcher.push("ab"), "");
    EXPECT_EQ(matcher.push("ab"), "ab");  // "abab": only the second "ab" can still become "abc"
    EXPECT_EQ(matcher.push("c"), "");
    EXPECT_TRUE(matcher.stopped());
  }
  {
    StopStringMatcher matcher({"aab"});
    EXPECT_EQ(matcher.push("a"), "");
    EXPECT_EQ(matcher.push("a"), "");
    EXPECT_EQ(matcher.push("a"), "a");  // "aaa": the last two may start "aab"
    EXPECT_EQ(matcher.push("b"), "");
    EXPECT_TRUE(matcher.stopped());
  }
  EXPECT_EQ(feed({"aab"}, {"aaab"}).emitted, "a");
  EXPECT_EQ(feed({"aab"}, {"aa", "ab"}).emitted, "a");
}

TEST(StopStrings, ShorterStopThatIsAPrefixWinsWhenComplete) {
  StopStringMatcher matcher({"abc", "ab"});
  EXPECT_EQ(matcher.push("xa"), "x");
  EXPECT_EQ(matcher.push("bc"), "");
  EXPECT_EQ(*matcher.matched(), "ab");
  const Outcome whole = feed({"abc", "ab"}, {"xabc"});
  EXPECT_EQ(whole.emitted, "x");
  EXPECT_EQ(whole.matched, "ab");
}

TEST(StopStrings, StopAtTheVeryStart) {
  StopStringMatcher matcher({"###"});
  EXPECT_EQ(matcher.push("###"), "");
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(feed({"###"}, {"#", "##", "rest"}).emitted, "");
}

TEST(StopStrings, EarliestMatchWins) {
  const Outcome out = feed({"world", "hello"}, {"say hello world"});
  EXPECT_EQ(out.emitted, "say ");
  EXPECT_EQ(out.matched, "hello");
  // "bc" is complete before "abcd" is, so it wins even though "abcd" starts earlier.
  const Outcome nested = feed({"abcd", "bc"}, {"abcd"});
  EXPECT_EQ(nested.emitted, "a");
  EXPECT_EQ(nested.matched, "bc");
  // Two stops ending at the same byte: the longer one, which starts earlier, cuts more.
  const Outcome same_end = feed({"c", "abc"}, {"xabc"});
  EXPECT_EQ(same_end.emitted, "x");
  EXPECT_EQ(same_end.matched, "abc");
}

TEST(StopStrings, FlushWithoutStopReturnsHeldText) {
  StopStringMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.push("x ST"), "x ");
  EXPECT_EQ(matcher.flush(), "ST");
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopStrings, EmptyStopsAreIgnored) {
  StopStringMatcher matcher({"", "Z", ""});
  EXPECT_EQ(matcher.push("abc"), "abc");
  EXPECT_EQ(matcher.push("xyZ"), "xy");
  EXPECT_EQ(*matcher.matched(), "Z");
  StopStringMatcher none({""});
  EXPECT_EQ(none.push("anything"), "anything");
  EXPECT_EQ(none.flush(), "");
  StopStringMatcher no_stops({});
  EXPECT_EQ(no_stops.push(""), "");
  EXPECT_EQ(no_stops.push("text"), "text");
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3
                          : (lead >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

TEST(StopStrings, MultibyteStops) {
  StopStringMatcher matcher({"終わり", "🛑"});
  std::string out = matcher.push("これで終");
  EXPECT_EQ(out, "これで");  // "終" (3 bytes) may start "終わり"
  out = matcher.push("わり。次");
  EXPECT_EQ(out, "");
  EXPECT_EQ(*matcher.matched(), "終わり");

  // "結" shares its first two bytes with "終" (E7 B5 90 vs E7 B5 82): nothing is held back.
  StopStringMatcher similar({"終わり"});
  EXPECT_EQ(similar.push("これは結"), "これは結");
  EXPECT_EQ(feed({"🛑"}, {"go ", "🚦", "🛑", "x"}).emitted, "go 🚦");
}

// Split `text` into pieces of 1–4 characters (whole UTF-8 characters, as the detokenizer gives).
std::vector<std::string> random_pieces(const std::string& text, std::mt19937& rng) {
  std::vector<std::string> chars;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t len = 1;
    while (i + len < text.size() && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) {
      ++len;
    }
    chars.push_back(text.substr(i, len));
    i += len;
  }
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i < chars.size();) {
    const std::size_t take = 1 + rng() % 4;
    std::string piece;
    for (std::size_t k = 0; k < take && i < chars.size(); ++k) piece += chars[i++];
    pieces.push_back(piece);
  }
  return pieces;
}

TEST(StopStrings, AnySplitGivesTheReferenceResultAndValidUtf8) {
  const std::vector<std::vector<std::string>> stop_sets = {
      {"aab"}, {"ab", "abc"}, {"abcd", "bc"}, {"終わり", "わりと"}, {"é!", "🛑🛑"}, {"\n\nUser:", "<|end|>"}};
  const std::vector<std::string> texts = {
      "aaab tail",         "xxabcyy",       "zabcd",           "それは終わりと思う",
      "ééé!x",             "go🛑 🛑🛑 end",   "hi\n\nUse\n\nUser: more", "no stop here at all <|en",
      "aaaaaaaaaaaaaaaab", "わりとわり終わ"};
  std::mt19937 rng(7);
  for (const auto& stops : stop_sets) {
    for (const std::string& text : texts) {
      const Outcome expected = reference(stops, text);
      for (int trial = 0; trial < 20; ++trial) {
        StopStringMatcher matcher(stops);
        std::string emitted;
        std::string seen;
        for (const std::string& piece : random_pieces(text, rng)) {
          seen += piece;
          const std::string out = matcher.push(piece);
          EXPECT_TRUE(valid_utf8(out)) << text;
          emitted += out;
          if (matcher.stopped()) break;
          // Released so far: everything but the longest tail that some stop starts with.
          std::size_t hold = 0;
          for (std::size_t len = 1; len <= seen.size(); ++len) {
            for (const std::string& stop : stops) {
              if (stop.size() > len && stop.compare(0, len, seen, seen.size() - len, len) == 0) {
                hold = len;
              }
            }
          }
          EXPECT_EQ(emitted, seen.substr(0, seen.size() - hold)) << text;
        }
        const std::string rest = matcher.flush();
        EXPECT_TRUE(valid_utf8(rest));
        emitted += rest;
        EXPECT_EQ(emitted, expected.emitted) << text;
        EXPECT_EQ(matcher.stopped(), expected.stopped) << text;
        if (expected.stopped) {
          EXPECT_EQ(*matcher.matched(), expected.matched) << text;
        }
      }
    }
  }
}

}  // namespace
