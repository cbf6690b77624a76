// The streaming tool-call parser: pieces for whole inputs written out by hand, and the same
// result for every way of splitting the text into pushes.
#include <gtest/gtest.h>

#include "api/tool_call_parser.h"

namespace pensieve::api {
namespace {

using nlohmann::json;

// A piece as comparable text; ids are random, so only their prefix and length are checked.
std::string show(const ToolStreamPiece& piece) {
  if (auto* t = std::get_if<TextDelta>(&piece)) return "text:" + t->text;
  if (auto* s = std::get_if<ToolCallStart>(&piece)) {
    EXPECT_EQ(s->id.rfind("toolu_", 0), 0u);
    EXPECT_EQ(s->id.size(), 6u + 24u);
    return "start:" + s->name;
  }
  if (auto* a = std::get_if<ToolArgumentsDelta>(&piece)) return "args:" + a->json_fragment;
  const auto& end = std::get<ToolCallEnd>(piece);
  return std::string(end.complete ? "end:" : "end(incomplete):") + end.call.name + ":" +
         end.call.arguments.dump();
}

// Pieces with neighbouring text (and argument) fragments merged, as a client sees them.
std::vector<std::string> merged(const std::vector<ToolStreamPiece>& pieces) {
  std::vector<std::string> out;
  for (const auto& piece : pieces) {
    std::string s = show(piece);
    bool mergeable = s.rfind("text:", 0) == 0 || s.rfind("args:", 0) == 0;
    if (mergeable && !out.empty() && out.back().substr(0, 5) == s.substr(0, 5)) {
      out.back() += s.substr(5);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::vector<ToolStreamPiece> run(const std::vector<std::string>& chunks) {
  ToolCallParser parser("toolu_");
  std::vector<ToolStreamPiece> all;
  for (const auto& chunk : chunks) {
    auto pieces = parser.push(chunk);
    all.insert(all.end(), pieces.begin(), pieces.end());
  }
  auto rest = parser.finish();
  all.insert(all.end(), rest.begin(), rest.end());
  return all;
}

// The result for the whole text, checked to be the same for every split into two and three
// pushes and for one byte at a time.
std::vector<std::string> parse_every_way(const std::string& text) {
  auto whole = merged(run({text}));
  for (std::size_t i = 0; i <= text.size(); ++i) {
    EXPECT_EQ(merged(run({text.substr(0, i), text.substr(i)})), whole) << "split at " << i;
    for (std::size_t j = i; j <= text.size() && text.size() <= 120; ++j) {
      EXPECT_EQ(merged(run({text.substr(0, i), text.substr(i, j - i), text.substr(j)})), whole)
          << "split at " << i << ", " << j;
    }
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  EXPECT_EQ(merged(run(bytes)), whole);
  return whole;
}

using Pieces = std::vector<std::string>;

TEST(ToolCallParser, PlainTextPassesThrough) {
  EXPECT_EQ(parse_every_way("Hello <b>world</b> a < b, <tool> x\n"),
            (Pieces{"text:Hello <b>world</b> a < b, <tool> x\n"}));
}

TEST(ToolCallParser, OneCall) {
  EXPECT_EQ(parse_every_way("Let me look.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": "
                            "{\"city\": \"Paris\", \"days\": [1, {\"a\": \"}\"}]}}</tool_call>"),
            (Pieces{"text:Let me look.", "start:get_weather",
                    "args:{\"city\": \"Paris\", \"days\": [1, {\"a\": \"}\"}]}",
                    "end:get_weather:{\"city\":\"Paris\",\"days\":[1,{\"a\":\"}\"}]}"}));
}

TEST(ToolCallParser, TwoCallsAndTextAfter) {
  EXPECT_EQ(parse_every_way("<tool_call>{\"name\":\"a\",\"arguments\":{\"q\":\"x\\\"y\"}}</tool_call>\n"
                            "<tool_call> {\"name\": \"b\", \"parameters\": {}} </tool_call>\n\nok"),
            (Pieces{"start:a", "args:{\"q\":\"x\\\"y\"}", "end:a:{\"q\":\"x\\\"y\"}", "start:b",
                    "args:{}", "end:b:{}", "text:ok"}));
}

TEST(ToolCallParser, MissingCloseTagAtTheEnd) {
  EXPECT_EQ(parse_every_way("<tool_call>{\"name\": \"a\", \"arguments\": {\"n\": 1}}"),
            (Pieces{"start:a", "args:{\"n\": 1}", "end:a:{\"n\":1}"}));
}

TEST(ToolCallParser, CutOffArgumentsStillEnd) {
  EXPECT_EQ(parse_every_way("<tool_call>{\"name\": \"a\", \"arguments\": {\"n\": [1, 2"),
            (Pieces{"start:a", "args:{\"n\": [1, 2", "end(incomplete):a:{}"}));
}

TEST(ToolCallParser, OtherKeyOrderIsParsedWhole) {
  EXPECT_EQ(parse_every_way("<tool_call>{\"arguments\": {\"k\": true}, \"name\": \"f\"}</tool_call>"),
            (Pieces{"start:f", "args:{\"k\":true}", "end:f:{\"k\":true}"}));
  // arguments as a JSON string holding an object
  EXPECT_EQ(parse_every_way("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"k\\\": 2}\"}</tool_call>"),
            (Pieces{"start:f", "args:{\"k\":2}", "end:f:{\"k\":2}"}));
}

TEST(ToolCallParser, MalformedCallComesBackAsText) {
  EXPECT_EQ(parse_every_way("a <tool_call>not json</tool_call> b"),
            (Pieces{"text:a<tool_call>not json</tool_call> b"}));
  EXPECT_EQ(parse_every_way("x <tool_call>{\"name\": \"f\""),
            (Pieces{"text:x<tool_call>{\"name\": \"f\""}));
  EXPECT_EQ(parse_every_way("<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>"),
            (Pieces{"text:<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>"}));
}

TEST(ToolCallParser, PartialTagIsHeldBackThenReleased) {
  ToolCallParser parser("toolu_");
  auto pieces = parser.push("see <tool_c");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(std::get<TextDelta>(pieces[0]).text, "see");
  pieces = parser.push("a");
  EXPECT_TRUE(pieces.empty());
  pieces = parser.push("r!");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(std::get<TextDelta>(pieces[0]).text, " <tool_car!");
  EXPECT_EQ(parser.calls_started(), 0);
}

TEST(ToolCallParser, StartComesAsSoonAsTheNameIsKnown) {
  ToolCallParser parser("call_");
  EXPECT_TRUE(parser.push("<tool_call>{\"name\": \"search\", \"argum").empty());
  auto pieces = parser.push("ents\": {\"q\": \"ca");
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(std::get<ToolCallStart>(pieces[0]).name, "search");
  EXPECT_EQ(std::get<ToolCallStart>(pieces[0]).id.rfind("call_", 0), 0u);
  EXPECT_EQ(std::get<ToolArgumentsDelta>(pieces[1]).json_fragment, "{\"q\": \"ca");
  std::string id = std::get<ToolCallStart>(pieces[0]).id;
  pieces = parser.push("ts\"}}</tool_call>");
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(std::get<ToolArgumentsDelta>(pieces[0]).json_fragment, "ts\"}");
  const auto& end = std::get<ToolCallEnd>(pieces[1]);
  EXPECT_EQ(end.call.arguments, json({{"q", "cats"}}));
  EXPECT_EQ(end.call.id, id);
  EXPECT_EQ(end.call.name, "search");
  EXPECT_TRUE(parser.finish().empty());
}

}  // namespace
}  // namespace pensieve::api
