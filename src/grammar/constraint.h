#pragma once
// Constrained decoding: a grammar (a JSON schema, any JSON object, or Pensieve's tool-call
// format) decides at each step which tokens may come next, so the output always parses and
// validates. Grammars are compiled by llguidance (its C API, built from crates.io by cargo).
//
// Masks are bitmasks, 32 tokens a word (bit t % 32 of word t / 32): llguidance computes them in
// this form, so handing them on costs nothing, and applying one to logits reads 4 KB, not 32 KB.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/vocabulary.h"

namespace pensieve::grammar {

using TokenMask = std::vector<uint32_t>;

inline bool mask_allows(const TokenMask& mask, int32_t token) {
  const auto t = static_cast<uint32_t>(token);
  return t / 32 < mask.size() && ((mask[t / 32] >> (t % 32)) & 1U) != 0;
}

class CompiledGrammar;  // llguidance's compiled grammar and tokenizer (grammar/llg_matcher.h)
class Matcher;

// The state of one sequence under a grammar. Not thread-safe: the engine thread owns it.
class Constraint {
 public:
  ~Constraint();
  Constraint(const Constraint&) = delete;
  Constraint& operator=(const Constraint&) = delete;

  // Writes into `mask` ((vocab + 31) / 32 words) the tokens allowed next. Returns false when the
  // constraint does not restrict this step (free text before a lazy trigger): `mask` is then
  // left untouched and the caller samples unmasked.
  bool allowed_tokens(TokenMask& mask);
  // Advances by `token`. Throws pensieve::Error if the grammar does not allow it; the
  // constraint is then unchanged.
  void accept(int32_t token);
  // The output is complete (EOS accepted, or the grammar allows nothing more): generation must
  // stop.
  bool finished() const;
  // A tool-call grammar in lazy mode: whether a call has started.
  bool triggered() const { return matcher_ != nullptr; }

 private:
  friend class ConstraintFactory;
  explicit Constraint(std::shared_ptr<const CompiledGrammar> grammar);
  bool allowed_before_trigger(TokenMask& mask);
  void accept_before_trigger(int32_t token);

  std::shared_ptr<const CompiledGrammar> grammar_;
  std::unique_ptr<Matcher> matcher_;       // null while a lazy constraint awaits its trigger
  std::unique_ptr<Matcher> after_trigger_; // lazy only: checks what follows a trigger
  std::string tail_;                       // lazy only: last bytes of text, for a split trigger
  bool finished_ = false;
};

// A compiled grammar, shared by every sequence of a request; make() is cheap. Factories throw
// pensieve::Error for an invalid or unsupported schema, with a message meant for the client.
class ConstraintFactory {
 public:
  // Output: one JSON value valid against `schema`, properties in the schema's key order. A
  // keyword llguidance does not implement (uniqueItems, propertyNames, not, if/then) is an
  // error: the client asked for output valid against the whole schema.
  static std::shared_ptr<ConstraintFactory> json_schema(std::shared_ptr<const Vocabulary> vocab,
                                                        const nlohmann::ordered_json& schema);
  // Output: any JSON object.
  static std::shared_ptr<ConstraintFactory> json_object(std::shared_ptr<const Vocabulary> vocab);
  // Output: `<tool_call>{"name": N, "arguments": A}</tool_call>`, N one of `tools` and A valid
  // against its input schema, repeated 1..n times with only whitespace between, then EOS.
  // forced: the output starts with a call. Lazy (forced = false): free text, unconstrained,
  // until "<tool_call>" appears; from there the calls are constrained, and the text may also end
  // without any call. Keywords the grammar cannot enforce are ignored in tool schemas (see
  // tool_call_schema in grammar_source.h).
  // single_call: exactly one call (a named forced tool, parallel tool use turned off).
  static std::shared_ptr<ConstraintFactory> tool_calls(std::shared_ptr<const Vocabulary> vocab,
                                                       const std::vector<Tool>& tools,
                                                       bool forced, bool single_call = false);

  std::unique_ptr<Constraint> make() const;

  explicit ConstraintFactory(std::shared_ptr<const CompiledGrammar> grammar);
  ~ConstraintFactory();

 private:
  std::shared_ptr<const CompiledGrammar> grammar_;
};

// The opening of a tool call; in lazy mode, its appearance starts the constraint.
inline constexpr const char* kToolCallOpen = "<tool_call>";
inline constexpr const char* kToolCallClose = "</tool_call>";

}  // namespace pensieve::grammar
