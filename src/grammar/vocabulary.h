#pragma once
// What a grammar needs to know of the model's tokens: the bytes each token decodes to. The
// tokenizer fills it (byte-fallback tokens <0xNN> as that one byte, SentencePiece's "▁" as a
// space); special tokens carry no text and are never produced by a grammar, except EOS.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pensieve::grammar {

struct Vocabulary {
  std::vector<std::string> token_bytes;  // indexed by token id; size = the model's vocab size
  std::vector<bool> is_special;          // same size; true for control tokens and padding ids
  int32_t eos_id = -1;                   // the token that ends a constrained output
};

// A tool the model may call: its name and the JSON schema of its input. Ordered JSON keeps the
// declared order of properties, which is the order the model writes them in; a plain
// nlohmann::json converts implicitly (its keys come sorted).
struct Tool {
  std::string name;
  nlohmann::ordered_json input_schema;
};

}  // namespace pensieve::grammar
