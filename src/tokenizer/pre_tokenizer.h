#pragma once
// tokenizer.json "pre_tokenizer": cuts normalized text into the words the model encodes one by
// one. Supported: ByteLevel, Split (with the GPT-2, Llama-3 and Qwen2 regexes), Metaspace and
// Sequence of those.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pensieve::tokenizer {

struct Word {
  std::string text;
  bool at_input_start = false;  // begins at offset 0 of the input (Metaspace's "first" scheme)
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Word>& words) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec);

// GPT-2's reversible byte → printable character map used by ByteLevel (and its inverse).
const std::string& byte_to_unicode(unsigned char byte);  // UTF-8 of the mapped character
// The byte a mapped character stands for, or -1.
int unicode_to_byte(char32_t cp);

}  // namespace pensieve::tokenizer
