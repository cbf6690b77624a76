// Loading tokenizer files: the Phi-3 fixture's metadata, and clear errors for broken or
// unsupported files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "tokenizer/tokenizer.h"

namespace {

using pensieve::tokenizer::Tokenizer;
namespace fs = std::filesystem;

const fs::path kPhi3 = fs::path(PENSIEVE_SOURCE_DIR) / "tests" / "fixtures" / "phi3-tokenizer";

// A tiny SentencePiece-style tokenizer.json, laid out as the Phi-3 one (loads fast in
// sanitizer builds).
nlohmann::json small_json() {
  return nlohmann::json::parse(R"({
    "added_tokens": [{"id": 3, "content": "<s>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "post_processor": null,
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
              "vocab": {"<unk>": 0, "a": 1, "b": 2, "<s>": 3, "ab": 4, "▁": 5},
              "merges": [["a", "b"]]}})");
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("pensieve-tok-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The message of the pensieve::Error that loading `dir` throws ("" when it loads).
std::string load_error(const fs::path& dir) {
  try {
    Tokenizer::from_directory(dir);
  } catch (const pensieve::Error& e) {
    return e.what();
  }
  return "";
}

TEST(TokenizerLoading, Phi3Metadata) {
  const Tokenizer tok = Tokenizer::from_directory(kPhi3);
  EXPECT_EQ(tok.vocab_size(), 32011u);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.bos_token(), "<s>");
  EXPECT_EQ(tok.eos_token(), "<|endoftext|>");
  EXPECT_EQ(tok.eos_ids(), std::vector<int32_t>{32000});
  EXPECT_TRUE(tok.adds_bos_by_default());
  EXPECT_EQ(tok.token_to_id("<|end|>"), 32007);
  EXPECT_EQ(tok.token_to_id("▁Hello"), 15043);
  EXPECT_FALSE(tok.token_to_id("no such token").has_value());
  EXPECT_TRUE(tok.is_special(32007));
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_FALSE(tok.is_special(2));  // </s> is an added token but not special in Phi-3
  EXPECT_FALSE(tok.is_special(15043));
  ASSERT_TRUE(tok.chat_template().has_value());
  EXPECT_NE(tok.chat_template()->find("<|user|>"), std::string::npos);
}

TEST(TokenizerLoading, GenerationConfigAddsEosIds) {
  TempDir dir;
  fs::copy(kPhi3, dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  dir.write("generation_config.json", R"({"eos_token_id": [32000, 32001, 32007]})");
  const Tokenizer tok = Tokenizer::from_directory(dir.path());
  EXPECT_EQ(tok.eos_ids(), (std::vector<int32_t>{32000, 32001, 32007}));
}

TEST(TokenizerLoading, MissingDirectoryAndFile) {
  EXPECT_NE(load_error("/no/such/dir").find("not a directory"), std::string::npos);
  TempDir dir;
  EXPECT_NE(load_error(dir.path()).find("tokenizer.json"), std::string::npos);
}

TEST(TokenizerLoading, MalformedJsonNamesTheFile) {
  TempDir dir;
  dir.write("tokenizer.json", "{\"model\": [1, 2");
  const std::string error = load_error(dir.path());
  EXPECT_NE(error.find("tokenizer.json"), std::string::npos) << error;
  EXPECT_NE(error.find("malformed JSON"), std::string::npos) << error;
}

TEST(TokenizerLoading, SmallTokenizerLoads) {
  TempDir dir;
  dir.write("tokenizer.json", small_json().dump());
  const Tokenizer tok = Tokenizer::from_directory(dir.path());
  EXPECT_EQ(tok.encode("ab a", false), (std::vector<int32_t>{5, 4, 5, 1}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{5, 4, 5, 1}), "ab a");
  EXPECT_FALSE(tok.bos_id().has_value());  // no tokenizer_config.json
}

TEST(TokenizerLoading, MissingModelIsAnError) {
  TempDir dir;
  dir.write("tokenizer.json", "{\"normalizer\": null}");
  EXPECT_NE(load_error(dir.path()).find("tokenizer.json"), std::string::npos);
}

struct UnsupportedCase {
  const char* field;
  const char* value;
  const char* named;
};

class UnsupportedComponent : public ::testing::TestWithParam<UnsupportedCase> {};

TEST_P(UnsupportedComponent, ErrorNamesIt) {
  nlohmann::json spec = small_json();
  const UnsupportedCase& c = GetParam();
  const std::string field = c.field;
  const auto value = nlohmann::json::parse(c.value);
  if (field.rfind("model.", 0) == 0) {
    spec["model"][field.substr(6)] = value;
  } else {
    spec[field] = value;
  }
  TempDir dir;
  dir.write("tokenizer.json", spec.dump());
  const std::string error = load_error(dir.path());
  EXPECT_NE(error.find(c.named), std::string::npos) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizer, UnsupportedComponent,
    ::testing::Values(
        UnsupportedCase{"normalizer", R"({"type": "NFC"})", "NFC"},
        UnsupportedCase{"normalizer", R"({"type": "Sequence", "normalizers": [{"type": "Lowercase"}]})",
                        "Lowercase"},
        UnsupportedCase{"normalizer", R"({"type": "Replace", "pattern": {"Regex": " +"}, "content": "x"})",
                        "Regex"},
        UnsupportedCase{"pre_tokenizer", R"({"type": "Whitespace"})", "Whitespace"},
        UnsupportedCase{"pre_tokenizer",
                        R"({"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false})",
                        "\\w+"},
        UnsupportedCase{"decoder", R"({"type": "WordPiece"})", "WordPiece"},
        UnsupportedCase{"post_processor", R"({"type": "BertProcessing"})", "BertProcessing"},
        UnsupportedCase{"model", R"({"type": "Unigram", "vocab": []})", "Unigram"},
        UnsupportedCase{"model.continuing_subword_prefix", R"("##")", "continuing_subword_prefix"},
        UnsupportedCase{"model.merges", R"([["no-such-piece", "x"]])", "no-such-piece"}));

}  // namespace
