#pragma once
// Shared by the grammar tests: the real Phi-3 vocabulary, read from its tokenizer.json without
// the tokenizer module, and random walks through a constraint.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/constraint.h"

namespace pensieve::grammar::testing {

constexpr size_t kPhi3VocabSize = 32064;  // the model's embedding rows, past the 32011 named ids
constexpr int32_t kPhi3End = 32007;       // <|end|>, where an assistant turn stops

inline std::shared_ptr<const Vocabulary> phi3_vocabulary() {
  static const std::shared_ptr<const Vocabulary> vocab = [] {
    std::ifstream in(PENSIEVE_SOURCE_DIR "/tests/fixtures/phi3-tokenizer/tokenizer.json");
    if (!in) throw std::runtime_error("missing tests/fixtures/phi3-tokenizer/tokenizer.json");
    const auto doc = nlohmann::json::parse(in);
    auto v = std::make_shared<Vocabulary>();
    v->token_bytes.assign(kPhi3VocabSize, "");
    v->is_special.assign(kPhi3VocabSize, true);  // ids with no piece are padding
    for (const auto& [piece, id_json] : doc["model"]["vocab"].items()) {
      const auto id = id_json.get<size_t>();
      std::string bytes;
      if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece[5] == '>') {
        bytes.push_back(static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
      } else {
        for (size_t i = 0; i < piece.size();) {
          if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {  // "▁" is SentencePiece's space
            bytes += ' ';
            i += 3;
          } else {
            bytes += piece[i++];
          }
        }
      }
      v->token_bytes[id] = bytes;
      v->is_special[id] = false;
    }
    for (const auto& added : doc["added_tokens"]) {  // <unk>, <s>, </s>, <|end|>, ...
      const auto id = added["id"].get<size_t>();
      v->token_bytes[id] = added["content"].get<std::string>();
      v->is_special[id] = true;
    }
    v->eos_id = kPhi3End;
    return v;
  }();
  return vocab;
}

// The id of the token whose bytes are exactly `bytes`, or -1.
inline int32_t token_of(const std::string& bytes) {
  const auto& v = *phi3_vocabulary();
  for (size_t i = 0; i < v.token_bytes.size(); ++i)
    if (!v.is_special[i] && v.token_bytes[i] == bytes) return static_cast<int32_t>(i);
  return -1;
}

inline std::vector<int32_t> allowed_list(const TokenMask& mask) {
  std::vector<int32_t> out;
  for (size_t w = 0; w < mask.size(); ++w)
    for (uint32_t bits = mask[w]; bits != 0; bits &= bits - 1)
      out.push_back(static_cast<int32_t>(w * 32 + static_cast<size_t>(__builtin_ctz(bits))));
  return out;
}

// Tokens made only of JSON punctuation and spaces: they close strings, arrays and objects.
inline const std::vector<int32_t>& punctuation_tokens() {
  static const std::vector<int32_t> tokens = [] {
    std::vector<int32_t> out;
    const auto& v = *phi3_vocabulary();
    for (size_t i = 0; i < v.token_bytes.size(); ++i) {
      const std::string& b = v.token_bytes[i];
      if (!v.is_special[i] && !b.empty() && b.find_first_not_of("\"{}[],: ") == std::string::npos)
        out.push_back(static_cast<int32_t>(i));
    }
    return out;
  }();
  return tokens;
}

// A token drawn uniformly from those `mask` allows, or -1 if none.
inline int32_t random_allowed(const TokenMask& mask, std::mt19937& rng) {
  size_t count = 0;
  for (uint32_t w : mask) count += static_cast<size_t>(__builtin_popcount(w));
  if (count == 0) return -1;
  size_t pick = std::uniform_int_distribution<size_t>(0, count - 1)(rng);
  for (size_t w = 0; w < mask.size(); ++w) {
    const auto n = static_cast<size_t>(__builtin_popcount(mask[w]));
    if (pick >= n) {
      pick -= n;
      continue;
    }
    uint32_t bits = mask[w];
    for (; pick > 0; --pick) bits &= bits - 1;
    return static_cast<int32_t>(w * 32 + static_cast<size_t>(__builtin_ctz(bits)));
  }
  return -1;
}

struct MaskTiming {
  double total_us = 0;
  size_t masks = 0;
  double worst_us = 0;
  double mean_us() const { return masks ? total_us / static_cast<double>(masks) : 0; }
};

struct Walk {
  std::string text;  // the bytes of the accepted tokens, EOS excluded
  bool ended_by_eos = false;
};

// Walks `c` to its end, taking a random allowed token at each step. After the first
// `wander` steps it takes EOS when allowed, else prefers punctuation_tokens(), so that strings,
// arrays and objects close and the walk ends; before, any allowed token is as likely as any
// other.
inline Walk random_walk(Constraint& c, std::mt19937& rng, size_t wander, MaskTiming& timing,
                        size_t max_steps = 3000) {
  const auto& vocab = *phi3_vocabulary();
  Walk walk;
  TokenMask mask;
  for (size_t step = 0; step < max_steps && !c.finished(); ++step) {
    const auto start = std::chrono::steady_clock::now();
    const bool restricted = c.allowed_tokens(mask);
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    timing.total_us += us;
    timing.masks += 1;
    timing.worst_us = std::max(timing.worst_us, us);
    EXPECT_TRUE(restricted) << "a JSON grammar restricts every step";
    int32_t token = -1;
    if (step >= wander) {
      if (mask_allows(mask, vocab.eos_id)) {
        token = vocab.eos_id;
      } else {
        std::vector<int32_t> closing;
        for (int32_t t : punctuation_tokens())
          if (mask_allows(mask, t)) closing.push_back(t);
        if (!closing.empty())
          token = closing[std::uniform_int_distribution<size_t>(0, closing.size() - 1)(rng)];
      }
    }
    if (token < 0) token = random_allowed(mask, rng);
    if (token < 0) {
      ADD_FAILURE() << "no token allowed after: " << walk.text;
      return walk;
    }
    c.accept(token);
    if (token == vocab.eos_id)
      walk.ended_by_eos = true;
    else
      walk.text += vocab.token_bytes[static_cast<size_t>(token)];
  }
  EXPECT_TRUE(c.finished()) << "walk did not end: " << walk.text;
  return walk;
}

}  // namespace pensieve::grammar::testing

namespace pensieve::grammar::testing {

// Longest-match tokens spelling `text` (not the model's own tokenization; any spelling
// decodes to the same bytes, which is all a grammar sees).
inline std::vector<int32_t> spell(const std::string& text) {
  static const auto by_bytes = [] {
    std::unordered_map<std::string, int32_t> m;
    const auto& v = *phi3_vocabulary();
    for (size_t i = 0; i < v.token_bytes.size(); ++i)
      if (!v.is_special[i]) m.emplace(v.token_bytes[i], static_cast<int32_t>(i));
    return m;
  }();
  std::vector<int32_t> tokens;
  for (size_t at = 0; at < text.size();) {
    for (size_t len = std::min<size_t>(16, text.size() - at); len > 0; --len) {
      auto found = by_bytes.find(text.substr(at, len));
      if (found != by_bytes.end()) {
        tokens.push_back(found->second);
        at += len;
        break;
      }
    }
  }
  return tokens;
}

inline void accept_text(Constraint& c, const std::string& text) {
  for (int32_t t : spell(text)) c.accept(t);
}

}  // namespace pensieve::grammar::testing
