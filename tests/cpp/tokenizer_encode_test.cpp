// Encoding and decoding with the Phi-3 fixture. The expected ids come from the reference
// vectors of Hugging Face's Phi-3 tokenizer (tests/fixtures/phi3-vocab), the broader parity
// checks against `tokenizers` live in tests/python/test_tokenizer_parity.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/regex_split.h"
#include "tokenizer/tokenizer.h"

namespace {

using pensieve::tokenizer::TokenId;
using pensieve::tokenizer::Tokenizer;
namespace fs = std::filesystem;

const fs::path kRoot = fs::path(PENSIEVE_SOURCE_DIR) / "tests" / "fixtures";

const Tokenizer& phi3() {
  static const Tokenizer tok = Tokenizer::from_directory(kRoot / "phi3-tokenizer");
  return tok;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TokenizerEncode, ReferenceVectors) {
  const std::string inputs = read_file(kRoot / "phi3-vocab" / "ggml-vocab-phi-3.gguf.inp");
  std::istringstream outputs(read_file(kRoot / "phi3-vocab" / "ggml-vocab-phi-3.gguf.out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::size_t pos = 0, count = 0;
  for (std::size_t hit; (hit = inputs.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) {
    const std::string text = inputs.substr(pos, hit - pos);
    std::string line;
    ASSERT_TRUE(std::getline(outputs, line));
    std::istringstream fields(line);
    std::vector<TokenId> want;
    for (TokenId id; fields >> id;) want.push_back(id);
    EXPECT_EQ(phi3().encode(text, false), want) << text;
    ++count;
  }
  EXPECT_EQ(count, 46u);
}

TEST(TokenizerEncode, BosAndAddedTokens) {
  EXPECT_EQ(phi3().encode("Hello world", true), (std::vector<TokenId>{1, 15043, 3186}));
  // <|user|> strips the spaces after it; the text after restarts with a prepended "▁".
  EXPECT_EQ(phi3().encode("<|user|>  Hello<|end|>", false), (std::vector<TokenId>{32010, 15043, 32007}));
  EXPECT_EQ(phi3().encode("", true), (std::vector<TokenId>{1}));
  EXPECT_TRUE(phi3().encode("", false).empty());
}

TEST(TokenizerEncode, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(phi3().encode("a\xff", false), phi3().encode("a\xEF\xBF\xBD", false));
}

TEST(TokenizerDecode, StripsOnlyTheFirstLeadingSpace) {
  EXPECT_EQ(phi3().decode(std::vector<TokenId>{15043, 3186}), "Hello world");
  EXPECT_EQ(phi3().decode(std::vector<TokenId>{1, 15043, 32007}), "<s> Hello<|end|>");
  EXPECT_EQ(phi3().decode(std::vector<TokenId>{1, 15043, 32007}, true), "Hello");
}

TEST(TokenizerDecode, ByteFallbackGroups) {
  // <0xE2><0x82><0xAC> is "€"; an incomplete group becomes one U+FFFD per byte.
  EXPECT_EQ(phi3().decode(std::vector<TokenId>{229, 133, 175}), "€");
  EXPECT_EQ(phi3().decode(std::vector<TokenId>{229, 133, 15043}), "\xEF\xBF\xBD\xEF\xBF\xBD Hello");
}

TEST(TokenizerStream, WaitsForCompleteCharacters) {
  auto stream = phi3().stream_decoder();
  EXPECT_EQ(stream.push(15043), "Hello");
  EXPECT_EQ(stream.push(229), "");
  EXPECT_EQ(stream.push(133), "");
  EXPECT_EQ(stream.push(175), "");  // a byte token may still join the next one
  EXPECT_EQ(stream.push(3186), "€ world");
  EXPECT_EQ(stream.flush(), "");
}

TEST(TokenizerStream, EqualsFullDecodeForEveryPrefixSplit) {
  const std::vector<std::string> texts = {
      "Hello world", "  two spaces", "\n\nnew lines\n", "emoji 👨‍👩‍👧 and 中文 and ภาษาไทย",
      "<|user|>\nHi<|end|>\n<|assistant|>\nOK", "tabs\tand\u00a0nbsp"};
  for (const auto& text : texts) {
    for (bool skip : {false, true}) {
      const auto ids = phi3().encode(text, true);
      auto stream = phi3().stream_decoder(skip);
      std::string out;
      for (TokenId id : ids) out += stream.push(id);
      out += stream.flush();
      EXPECT_EQ(out, phi3().decode(ids, skip)) << text;
    }
  }
}

TEST(RegexSplit, Gpt2AndLlama3Patterns) {
  using pensieve::tokenizer::regex_split;
  using pensieve::tokenizer::SplitPattern;
  const auto pieces = [](std::string_view text, SplitPattern p) {
    std::vector<std::string> out;
    for (const auto& [b, e] : regex_split(text, p)) out.emplace_back(text.substr(b, e - b));
    return out;
  };
  // As Python's `regex` module splits with these patterns.
  EXPECT_EQ(pieces("I'm  fine,  you'RE 12345!\n\n ok", SplitPattern::kGpt2),
            (std::vector<std::string>{"I", "'m", " ", " fine", ",", " ", " you", "'", "RE", " 12345",
                                      "!", "\n\n", " ok"}));
  EXPECT_EQ(pieces("I'm  fine,  you'RE 12345!\n\n ok", SplitPattern::kLlama3),
            (std::vector<std::string>{"I", "'m", " ", " fine", ",", " ", " you", "'RE", " ", "123",
                                      "45", "!\n\n", " ok"}));
}

}  // namespace
