#pragma once
// tokenizer.json "normalizer": the text rewrites applied to each piece of input between added
// tokens before the model sees it. Supported: Sequence, Prepend, Replace (string pattern), Strip.
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace pensieve::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for a JSON null; throws pensieve::Error naming an unsupported type.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec);

// The string of a {"String": s} pattern; throws for {"Regex": ...}, naming `where`.
std::string string_pattern(const nlohmann::json& pattern, const std::string& where);

void replace_all(std::string& text, const std::string& from, const std::string& to);

}  // namespace pensieve::tokenizer
