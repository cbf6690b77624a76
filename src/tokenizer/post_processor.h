#pragma once
// tokenizer.json "post_processor" for single sequences: the special tokens a TemplateProcessing
// puts around the text (BOS for Llama and Phi-3). ByteLevel is a no-op on ids; Sequence chains.
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pensieve::tokenizer {

struct SingleTemplate {
  std::vector<int32_t> before;  // ids ahead of the text ($A)
  std::vector<int32_t> after;   // ids behind it
  bool present = false;         // false: the tokenizer adds nothing
};

SingleTemplate make_single_template(const nlohmann::json& spec);

}  // namespace pensieve::tokenizer
