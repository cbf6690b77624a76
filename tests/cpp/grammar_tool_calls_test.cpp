// Tool calls in Pensieve's format, forced and lazy, on the real Phi-3 vocabulary: the calls in
// every output parse, name a tool, and carry arguments valid against that tool's schema.
#include <gtest/gtest.h>

#include <iostream>

#include "common/error.h"
#include "grammar_schema_check.h"
#include "grammar_test_support.h"

namespace pensieve::grammar::testing {
namespace {

std::vector<Tool> weather_and_search() {
  return {
      {"get_weather", nlohmann::ordered_json::parse(R"({
        "type": "object",
        "properties": {
          "location": {"type": "string", "maxLength": 20},
          "unit": {"enum": ["celsius", "fahrenheit"]}
        },
        "required": ["location"], "additionalProperties": false})")},
      {"search", nlohmann::ordered_json::parse(R"({
        "type": "object",
        "properties": {
          "query": {"type": "string"},
          "limit": {"type": "integer", "minimum": 1, "maximum": 10},
          "filters": {"type": "object", "properties": {
            "site": {"type": "string"}, "recent": {"type": "boolean"}},
            "additionalProperties": false}
        },
        "required": ["query", "limit"], "additionalProperties": false})")},
  };
}

// Splits `text` into its calls and checks each; returns how many there were. Between calls and
// around them there may be only whitespace. A JSON string may itself hold the closing tag, so
// the end of a call is the first closing tag after which the body parses.
size_t check_calls(const std::string& text, const std::vector<Tool>& tools) {
  const std::string open = kToolCallOpen, close = kToolCallClose;
  size_t calls = 0;
  size_t at = text.find_first_not_of(" \t\r\n");
  while (at != std::string::npos) {
    EXPECT_EQ(text.compare(at, open.size(), open), 0) << "not a call at " << at << ": " << text;
    if (::testing::Test::HasFailure()) return calls;
    const size_t body = at + open.size();
    nlohmann::json call;
    size_t end = body;
    for (;;) {
      end = text.find(close, end);
      if (end == std::string::npos) {
        ADD_FAILURE() << "unterminated call: " << text;
        return calls;
      }
      call = nlohmann::json::parse(text.substr(body, end - body), nullptr, false);
      if (!call.is_discarded()) break;
      ++end;
    }
    const Tool* tool = nullptr;
    for (const Tool& t : tools)
      if (call.is_object() && call.value("name", "") == t.name) tool = &t;
    EXPECT_NE(tool, nullptr) << "unknown tool in " << call.dump();
    EXPECT_EQ(call.size(), 2U) << call.dump();
    if (tool) {
      EXPECT_EQ(schema_violation(call["arguments"], nlohmann::json(tool->input_schema)), "") << call.dump();
    }
    ++calls;
    at = text.find_first_not_of(" \t\r\n", end + close.size());
  }
  return calls;
}

TEST(GrammarToolCalls, ForcedOutputIsCallsThenEos) {
  const auto tools = weather_and_search();
  auto factory = ConstraintFactory::tool_calls(phi3_vocabulary(), tools, /*forced=*/true);
  std::mt19937 rng(11);
  MaskTiming timing;
  size_t total_calls = 0;
  for (int i = 0; i < 100; ++i) {
    auto c = factory->make();
    const Walk walk = random_walk(*c, rng, std::uniform_int_distribution<size_t>(0, 60)(rng), timing);
    EXPECT_EQ(walk.text.rfind(kToolCallOpen, 0), 0U) << walk.text;
    const size_t calls = check_calls(walk.text, tools);
    EXPECT_GE(calls, 1U);
    total_calls += calls;
    if (HasFailure()) break;
  }
  EXPECT_GT(total_calls, 100U) << "some walks should make several calls";
  std::cout << "[ mask    ] tool calls: " << timing.masks << " masks, mean " << timing.mean_us()
            << " us, worst " << timing.worst_us << " us\n";
}

TEST(GrammarToolCalls, SingleCallEndsAfterTheFirstCall) {
  const auto tools = weather_and_search();
  auto factory = ConstraintFactory::tool_calls(phi3_vocabulary(), tools, /*forced=*/true, /*single_call=*/true);
  std::mt19937 rng(12);
  MaskTiming timing;
  for (int i = 0; i < 40; ++i) {
    auto c = factory->make();
    const Walk walk = random_walk(*c, rng, std::uniform_int_distribution<size_t>(0, 60)(rng), timing);
    EXPECT_EQ(check_calls(walk.text, tools), 1U) << walk.text;
    if (HasFailure()) break;
  }
}

TEST(GrammarToolCalls, ForcedFirstTokenMustOpenACall) {
  auto c = ConstraintFactory::tool_calls(phi3_vocabulary(), weather_and_search(), true)->make();
  TokenMask mask;
  ASSERT_TRUE(c->allowed_tokens(mask));
  EXPECT_FALSE(mask_allows(mask, token_of("Hello")));
  EXPECT_FALSE(mask_allows(mask, kPhi3End));
  EXPECT_TRUE(mask_allows(mask, token_of("<")));
  EXPECT_THROW(c->accept(token_of("Hello")), Error);
}

TEST(GrammarToolCalls, NameSelectsTheArgumentsSchema) {
  auto c = ConstraintFactory::tool_calls(phi3_vocabulary(), weather_and_search(), true)->make();
  accept_text(*c, R"(<tool_call>{"name": "get_weather", "arguments": {"location": "Oslo", )");
  TokenMask mask;
  ASSERT_TRUE(c->allowed_tokens(mask));
  EXPECT_TRUE(mask_allows(mask, token_of("\"")));  // "unit" may follow
  accept_text(*c, R"("unit": ")");
  EXPECT_THROW(accept_text(*c, "kelvin"), Error);
  accept_text(*c, R"(celsius"}}</tool_call>)");
  EXPECT_FALSE(c->finished());  // a second call may follow
  c->accept(kPhi3End);
  EXPECT_TRUE(c->finished());
}

TEST(GrammarToolCalls, LazyTextIsFreeUntilTheTrigger) {
  auto factory = ConstraintFactory::tool_calls(phi3_vocabulary(), weather_and_search(), false);
  auto c = factory->make();
  TokenMask mask;
  EXPECT_FALSE(c->allowed_tokens(mask));
  accept_text(*c, "I cannot call tools for that; here is a < sign and <tool> tag.");
  EXPECT_FALSE(c->triggered());
  c->accept(kPhi3End);
  EXPECT_TRUE(c->finished());

  auto d = factory->make();
  accept_text(*d, "Let me look.\n<tool_call>");
  EXPECT_TRUE(d->triggered());
  ASSERT_TRUE(d->allowed_tokens(mask));
  EXPECT_FALSE(mask_allows(mask, token_of("Hello")));
  EXPECT_FALSE(mask_allows(mask, kPhi3End));
  accept_text(*d, R"({"name": "search", "arguments": {"query": "x", "limit": 3}}</tool_call>)");
  d->accept(kPhi3End);
  EXPECT_TRUE(d->finished());
}

TEST(GrammarToolCalls, LazyTriggerSplitAcrossTokensMasksBadContinuations) {
  auto c = ConstraintFactory::tool_calls(phi3_vocabulary(), weather_and_search(), false)->make();
  accept_text(*c, "Sure <tool_call");
  TokenMask mask;
  ASSERT_TRUE(c->allowed_tokens(mask));  // some tokens would complete the tag badly
  const int32_t bad = token_of(">>");
  ASSERT_GE(bad, 0);
  EXPECT_FALSE(mask_allows(mask, bad));
  EXPECT_TRUE(mask_allows(mask, token_of(">")));
  EXPECT_TRUE(mask_allows(mask, token_of("Hello")));  // the tag need not be completed
  EXPECT_THROW(c->accept(bad), Error);
  EXPECT_FALSE(c->triggered());
  c->accept(token_of(">"));
  EXPECT_TRUE(c->triggered());
}

TEST(GrammarToolCalls, LazyRandomWalksAfterFreeText) {
  const auto tools = weather_and_search();
  auto factory = ConstraintFactory::tool_calls(phi3_vocabulary(), tools, false);
  const auto& vocab = *phi3_vocabulary();
  std::mt19937 rng(12);
  MaskTiming timing;
  for (int i = 0; i < 100; ++i) {
    auto c = factory->make();
    std::string prose;  // random ordinary tokens, then the tag, spelled by random pieces
    TokenMask mask;
    for (int k = std::uniform_int_distribution<int>(0, 20)(rng); k > 0; --k) {
      int32_t t;
      do {
        t = std::uniform_int_distribution<int32_t>(3, 31999)(rng);
      } while (vocab.token_bytes[static_cast<size_t>(t)].find('<') != std::string::npos);
      if (c->allowed_tokens(mask)) {
        ASSERT_TRUE(mask_allows(mask, t));
      }
      c->accept(t);
      prose += vocab.token_bytes[static_cast<size_t>(t)];
    }
    ASSERT_FALSE(c->triggered()) << prose;
    for (const char* piece : {"<", "tool", "_", "call", ">"}) c->accept(token_of(piece));
    ASSERT_TRUE(c->triggered());
    const Walk walk = random_walk(*c, rng, std::uniform_int_distribution<size_t>(0, 60)(rng), timing);
    EXPECT_GE(check_calls(kToolCallOpen + walk.text, tools), 1U);
    if (HasFailure()) break;
  }
}

TEST(GrammarToolCalls, BadToolDefinitionsAreErrors) {
  const auto vocab = phi3_vocabulary();
  EXPECT_THROW(ConstraintFactory::tool_calls(vocab, {}, true), Error);
  EXPECT_THROW(ConstraintFactory::tool_calls(vocab, {{"", {{"type", "object"}}}}, true), Error);
  EXPECT_THROW(ConstraintFactory::tool_calls(
                   vocab, {{"a", {{"type", "object"}}}, {"a", {{"type", "object"}}}}, true),
               Error);
  // Keywords the grammar cannot enforce are ignored in tool schemas, not refused.
  EXPECT_NO_THROW(ConstraintFactory::tool_calls(
      vocab, {{"tags", nlohmann::ordered_json::parse(R"({"type": "object", "properties": {
        "t": {"type": "array", "uniqueItems": true}}, "propertyNames": {"maxLength": 3}})")}},
      true));
  try {
    ConstraintFactory::tool_calls(
        vocab, {{"ok", {{"type", "object"}}}, {"broken", {{"type", "nonsense"}}}}, true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'broken'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pensieve::grammar::testing
