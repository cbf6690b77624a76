// Tokenizer::token_bytes, the vocabulary constrained decoding sees, against an independent reading
// of the Phi-3 tokenizer.json (grammar_test_support.h: pieces with "▁" as a space, <0xNN> as the
// byte), and against decode: the bytes of an encoded text's tokens make up the text.
#include <gtest/gtest.h>

#include "grammar_test_support.h"
#include "tokenizer/tokenizer.h"

namespace {

using pensieve::tokenizer::TokenId;
using pensieve::tokenizer::Tokenizer;

const Tokenizer& phi3() {
  static const Tokenizer tok = Tokenizer::from_directory(PENSIEVE_SOURCE_DIR "/tests/fixtures/phi3-tokenizer");
  return tok;
}

TEST(TokenBytes, MatchesAnIndependentReadingOfTheVocabulary) {
  const auto& reference = *pensieve::grammar::testing::phi3_vocabulary();
  std::size_t compared = 0;
  for (std::size_t id = 0; id < phi3().vocab_size() && id < reference.token_bytes.size(); ++id) {
    const auto t = static_cast<TokenId>(id);
    if (phi3().is_special(t) || reference.is_special[id]) continue;
    EXPECT_EQ(phi3().token_bytes(t), reference.token_bytes[id]) << "id " << id;
    ++compared;
  }
  EXPECT_GT(compared, 31000U);
}

TEST(TokenBytes, ConcatenatedBytesOfAnEncodingAreTheText) {
  // SentencePiece prepends one space to the text; byte-fallback tokens carry raw bytes.
  for (const std::string text : {"Hello, world!", "naïve café — 日本語", "emoji 🎉🧪 and\ttabs\nnewlines"}) {
    std::string joined;
    for (TokenId id : phi3().encode(text, false)) joined += phi3().token_bytes(id);
    EXPECT_EQ(joined, " " + text);
  }
}

}  // namespace
