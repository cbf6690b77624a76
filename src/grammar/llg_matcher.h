#pragma once
// Owning C++ handles over llguidance's C API (llguidance.h). Every llguidance error becomes a
// pensieve::Error carrying llguidance's message.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/vocabulary.h"

struct LlgTokenizer;
struct LlgMatcher;

namespace pensieve::grammar {

// llguidance's view of a Vocabulary (its token trie); built once per Vocabulary and shared.
std::shared_ptr<LlgTokenizer> llg_tokenizer_for(const std::shared_ptr<const Vocabulary>& vocab);

class Matcher {
 public:
  // `kind` and `data` as llg_new_matcher takes them ("json_schema", "lark", ...). `what` names
  // the grammar in error messages.
  Matcher(const LlgTokenizer* tokenizer, const char* kind, const std::string& data,
          const std::string& what);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  std::unique_ptr<Matcher> clone() const;
  size_t mask_words() const;
  void compute_mask(uint32_t* dest, size_t words);
  // How many of `tokens` the grammar accepts from here, without advancing.
  size_t count_acceptable(const uint32_t* tokens, size_t n);
  void consume(const uint32_t* tokens, size_t n);
  bool is_stopped() const;

 private:
  explicit Matcher(LlgMatcher* handle);
  void throw_if_error(const char* doing) const;
  LlgMatcher* handle_;
};

// A grammar compiled for one vocabulary, with what a lazy tool-call constraint needs.
class CompiledGrammar {
 public:
  std::shared_ptr<const Vocabulary> vocab;
  std::shared_ptr<LlgTokenizer> tokenizer;
  std::unique_ptr<Matcher> initial;  // the grammar's start state, cloned per sequence

  // Lazy tool calls only (null otherwise): the grammar's state after the trigger's bytes.
  std::unique_ptr<Matcher> after_trigger;
  std::string trigger;
  std::array<int32_t, 256> byte_token{};           // a token that is exactly that byte, or -1
  std::array<std::vector<int32_t>, 256> starting_with;  // non-special tokens by first byte
  std::vector<int32_t> containing_trigger_start;   // non-special tokens holding trigger[0]
};

}  // namespace pensieve::grammar
