#include "grammar/constraint.h"

#include <algorithm>

#include "common/error.h"
#include "grammar/llg_matcher.h"

namespace pensieve::grammar {
namespace {

// Byte tokens spelling `bytes`, or an empty vector if some byte has no token of its own.
// llguidance matches bytes, so these stand for any tokenization of the same text.
std::vector<uint32_t> spell(const CompiledGrammar& grammar, const std::string& bytes) {
  std::vector<uint32_t> tokens;
  for (unsigned char c : bytes) {
    if (grammar.byte_token[c] < 0) return {};
    tokens.push_back(static_cast<uint32_t>(grammar.byte_token[c]));
  }
  return tokens;
}

}  // namespace

Constraint::Constraint(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)) {
  if (grammar_->after_trigger)
    after_trigger_ = grammar_->after_trigger->clone();
  else
    matcher_ = grammar_->initial->clone();
}

Constraint::~Constraint() = default;

bool Constraint::finished() const { return finished_; }

bool Constraint::allowed_tokens(TokenMask& mask) {
  if (finished_) {  // nothing may follow; EOS stays allowed so a caller that samples can stop
    mask.assign((grammar_->vocab->token_bytes.size() + 31) / 32, 0);
    const auto eos = static_cast<uint32_t>(grammar_->vocab->eos_id);
    mask[eos / 32] |= 1U << (eos % 32);
    return true;
  }
  if (!matcher_) return allowed_before_trigger(mask);
  mask.resize(matcher_->mask_words());
  matcher_->compute_mask(mask.data(), mask.size());
  return true;
}

void Constraint::accept(int32_t token) {
  const Vocabulary& vocab = *grammar_->vocab;
  if (token < 0 || static_cast<size_t>(token) >= vocab.token_bytes.size())
    throw Error("grammar: token " + std::to_string(token) + " is outside the vocabulary");
  if (finished_) throw Error("grammar: token after the end of the constrained output");
  if (!matcher_) return accept_before_trigger(token);
  const auto t = static_cast<uint32_t>(token);
  if (matcher_->count_acceptable(&t, 1) != 1)
    throw Error("grammar: token " + std::to_string(token) + " is not allowed here");
  matcher_->consume(&t, 1);
  if (token == vocab.eos_id || matcher_->is_stopped()) finished_ = true;
}

// Before the trigger, text is free, except that a token completing the trigger must not carry
// bytes after it that the grammar forbids (say `>x` after `<tool_call`): such tokens are
// masked, and only when one exists does this step restrict anything.
bool Constraint::allowed_before_trigger(TokenMask& mask) {
  const CompiledGrammar& grammar = *grammar_;
  const Vocabulary& vocab = *grammar.vocab;
  const std::string& trigger = grammar.trigger;
  std::vector<int32_t> forbidden;
  auto check = [&](int32_t token) {
    const std::string text = tail_ + vocab.token_bytes[static_cast<size_t>(token)];
    const size_t at = text.find(trigger);
    if (at == std::string::npos) return;
    const std::vector<uint32_t> rest = spell(grammar, text.substr(at + trigger.size()));
    const size_t rest_bytes = text.size() - at - trigger.size();
    if (rest.size() != rest_bytes ||
        after_trigger_->count_acceptable(rest.data(), rest.size()) != rest.size())
      forbidden.push_back(token);
  };
  for (int32_t token : grammar.containing_trigger_start) check(token);
  for (size_t k = 1; k < trigger.size() && k <= tail_.size(); ++k) {  // trigger split here
    if (tail_.compare(tail_.size() - k, k, trigger, 0, k) != 0) continue;
    for (int32_t token : grammar.starting_with[static_cast<unsigned char>(trigger[k])])
      check(token);
  }
  if (forbidden.empty()) return false;
  const size_t n = vocab.token_bytes.size();
  mask.assign((n + 31) / 32, ~0U);
  if (n % 32) mask.back() = (1U << (n % 32)) - 1;
  for (int32_t token : forbidden) {
    const auto t = static_cast<uint32_t>(token);
    mask[t / 32] &= ~(1U << (t % 32));
  }
  return true;
}

void Constraint::accept_before_trigger(int32_t token) {
  const CompiledGrammar& grammar = *grammar_;
  const Vocabulary& vocab = *grammar.vocab;
  const auto id = static_cast<size_t>(token);
  if (vocab.is_special[id]) {  // no text: a trigger cannot span it
    if (token == vocab.eos_id) finished_ = true;
    tail_.clear();
    return;
  }
  const std::string text = tail_ + vocab.token_bytes[id];
  const size_t at = text.find(grammar.trigger);
  if (at == std::string::npos) {
    const size_t keep = std::min(text.size(), grammar.trigger.size() - 1);
    tail_ = text.substr(text.size() - keep);
    return;
  }
  const std::string rest = text.substr(at + grammar.trigger.size());
  const std::vector<uint32_t> rest_tokens = spell(grammar, rest);
  if (rest_tokens.size() != rest.size() ||
      after_trigger_->count_acceptable(rest_tokens.data(), rest_tokens.size()) !=
          rest_tokens.size())
    throw Error("grammar: token " + std::to_string(token) + " is not allowed here");
  matcher_ = std::move(after_trigger_);
  matcher_->consume(rest_tokens.data(), rest_tokens.size());
  tail_.clear();
}

}  // namespace pensieve::grammar
