// What every constraint promises its caller: rejected tokens leave it unchanged, finished()
// ends the output, special tokens other than EOS are never allowed, sequences are independent.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "common/error.h"
#include "grammar_test_support.h"

namespace pensieve::grammar::testing {
namespace {

std::shared_ptr<ConstraintFactory> point_factory() {
  return ConstraintFactory::json_schema(phi3_vocabulary(), nlohmann::json::parse(R"({
    "type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
    "required": ["x", "y"], "additionalProperties": false})"));
}

TEST(GrammarConstraint, RejectedTokenThrowsAndChangesNothing) {
  auto c = point_factory()->make();
  accept_text(*c, R"({"x": 1)");
  TokenMask before, after;
  ASSERT_TRUE(c->allowed_tokens(before));
  EXPECT_THROW(c->accept(token_of("abc")), Error);
  EXPECT_THROW(c->accept(-1), Error);
  EXPECT_THROW(c->accept(static_cast<int32_t>(kPhi3VocabSize)), Error);
  ASSERT_TRUE(c->allowed_tokens(after));
  EXPECT_EQ(before, after);
  accept_text(*c, R"(, "y": 2})");
}

TEST(GrammarConstraint, MaskCoversTheVocabularyAndNoSpecialTokens) {
  const auto& vocab = *phi3_vocabulary();
  auto c = ConstraintFactory::json_object(phi3_vocabulary())->make();
  accept_text(*c, R"({"a": ")");
  TokenMask mask;
  ASSERT_TRUE(c->allowed_tokens(mask));
  EXPECT_EQ(mask.size(), (kPhi3VocabSize + 31) / 32);
  size_t allowed = 0;
  for (size_t t = 0; t < kPhi3VocabSize; ++t) {
    const bool ok = mask_allows(mask, static_cast<int32_t>(t));
    allowed += ok;
    if (vocab.is_special[t]) {
      EXPECT_FALSE(ok) << "special token " << t;
    }
  }
  EXPECT_GT(allowed, 20000U);  // inside a string nearly every piece fits
}

TEST(GrammarConstraint, FinishedAfterTheValueAndEos) {
  auto c = point_factory()->make();
  EXPECT_FALSE(c->finished());
  accept_text(*c, R"({"x": 1, "y": -20})");
  TokenMask mask;
  if (!c->finished()) {  // the value is complete: only EOS may follow
    ASSERT_TRUE(c->allowed_tokens(mask));
    EXPECT_EQ(allowed_list(mask), std::vector<int32_t>{kPhi3End});
    c->accept(kPhi3End);
  }
  EXPECT_TRUE(c->finished());
  EXPECT_THROW(c->accept(token_of("1")), Error);
  ASSERT_TRUE(c->allowed_tokens(mask));
  EXPECT_EQ(allowed_list(mask), std::vector<int32_t>{kPhi3End});
}

TEST(GrammarConstraint, EosOnlyWhenComplete) {
  auto c = point_factory()->make();
  accept_text(*c, R"({"x": 1)");
  TokenMask mask;
  ASSERT_TRUE(c->allowed_tokens(mask));
  EXPECT_FALSE(mask_allows(mask, kPhi3End));
  EXPECT_THROW(c->accept(kPhi3End), Error);
}

TEST(GrammarConstraint, SequencesFromOneFactoryAreIndependent) {
  auto factory = point_factory();
  auto a = factory->make();
  TokenMask fresh, mask;
  ASSERT_TRUE(a->allowed_tokens(fresh));
  accept_text(*a, R"({"x": 5, "y": )");
  auto b = factory->make();
  ASSERT_TRUE(b->allowed_tokens(mask));
  EXPECT_EQ(mask, fresh);
  for (int32_t t : allowed_list(mask))  // `{`, `{"` and the like
    EXPECT_EQ(phi3_vocabulary()->token_bytes[static_cast<size_t>(t)][0], '{');
  accept_text(*b, R"({"x": 7, "y": 8})");
  accept_text(*a, "6}");
}

// Reports what a request pays before its first token: compiling a grammar and making a
// sequence's constraint. Printed, not asserted (timing depends on the machine).
TEST(GrammarConstraint, ReportsCompileAndMakeTimes) {
  using clock = std::chrono::steady_clock;
  phi3_vocabulary();
  auto t0 = clock::now();
  auto factory = point_factory();
  auto t1 = clock::now();
  for (int i = 0; i < 100; ++i) factory->make();
  auto t2 = clock::now();
  std::cout << "[ timing  ] compile " << std::chrono::duration<double, std::milli>(t1 - t0).count()
            << " ms, make " << std::chrono::duration<double, std::micro>(t2 - t1).count() / 100
            << " us\n";
}

}  // namespace
}  // namespace pensieve::grammar::testing
