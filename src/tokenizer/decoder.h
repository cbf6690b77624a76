#pragma once
// tokenizer.json "decoder": turns the token strings of ids back into text. Supported: Sequence,
// Replace (string pattern), ByteFallback, Fuse, Strip, ByteLevel, Metaspace.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pensieve::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // One step of the chain, as `tokenizers`' decode_chain: tokens in, tokens out.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // Whether text decoded so far can still change when more tokens follow a token `t` (a
  // byte-fallback token <0xXX> joins the bytes after it into one character).
  // The raw bytes one token stands for in the middle of a text: the chain's per-token steps,
  // without the steps that look across tokens (Fuse, Strip of the text's first space) and
  // without replacing invalid UTF-8 (constrained decoding works on bytes).
  virtual void raw_bytes(std::string& token) const { (void)token; }
  virtual bool token_may_join_next(const std::string& token) const {
    (void)token;
    return false;
  }
};

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec);

}  // namespace pensieve::tokenizer
