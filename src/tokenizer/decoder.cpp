#include "tokenizer/decoder.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "common/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {
namespace {

using nlohmann::json;

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }
  void raw_bytes(std::string& token) const override {
    for (const auto& p : parts_) p->raw_bytes(token);
  }
  bool token_may_join_next(const std::string& token) const override {
    for (const auto& p : parts_) {
      if (p->token_may_join_next(token)) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) replace_all(t, from_, to_);
  }
  void raw_bytes(std::string& token) const override { replace_all(token, from_, to_); }

 private:
  std::string from_, to_;
};

// "<0xAB>" → 0xAB, as u8::from_str_radix on the two characters (which also takes "+A").
std::optional<unsigned char> byte_token_value(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return std::nullopt;
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (t[3] == '+') {
    const int lo = hex(t[4]);
    if (lo < 0) return std::nullopt;
    return static_cast<unsigned char>(lo);
  }
  const int hi = hex(t[3]), lo = hex(t[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<unsigned char>(hi * 16 + lo);
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    const auto flush = [&] {
      if (bytes.empty()) return;
      if (is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        for (std::size_t i = 0; i < bytes.size(); ++i) out.emplace_back(kReplacementChar);
      }
      bytes.clear();
    };
    for (auto& t : tokens) {
      if (const auto b = byte_token_value(t)) {
        bytes.push_back(static_cast<char>(*b));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
  void raw_bytes(std::string& token) const override {
    if (const auto b = byte_token_value(token)) token.assign(1, static_cast<char>(*b));
  }
  bool token_may_join_next(const std::string& token) const override {
    return byte_token_value(token).has_value();
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<std::size_t> offsets;  // code point starts, plus the end
      for (std::size_t pos = 0; pos < t.size(); pos += decode_utf8(t, pos).len) offsets.push_back(pos);
      offsets.push_back(t.size());
      const std::size_t n = offsets.size() - 1;
      std::size_t first = 0;
      while (first < std::min(start_, n) && decode_utf8(t, offsets[first]).cp == content_) ++first;
      std::size_t last = n;
      for (std::size_t i = 0; i < stop_ && last > first; ++i) {
        if (decode_utf8(t, offsets[last - 1]).cp != content_) break;
        --last;
      }
      t = t.substr(offsets[first], offsets[last] - offsets[first]);
    }
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mapped;
      bool all = true;
      for (std::size_t pos = 0; pos < t.size() && all;) {
        const Decoded d = decode_utf8(t, pos);
        const int b = unicode_to_byte(d.cp);
        if (b < 0) all = false;
        else mapped.push_back(static_cast<char>(b));
        pos += d.len;
      }
      bytes += all ? mapped : t;  // a token outside the byte map stays as it is
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
  void raw_bytes(std::string& token) const override {
    std::string mapped;
    for (std::size_t pos = 0; pos < token.size();) {
      const Decoded d = decode_utf8(token, pos);
      const int b = unicode_to_byte(d.cp);
      if (b < 0) return;  // outside the byte map: kept as it is, as decode does
      mapped.push_back(static_cast<char>(b));
      pos += d.len;
    }
    token = std::move(mapped);
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, i == 0 && strip_first_ ? "" : " ");
    }
  }
  void raw_bytes(std::string& token) const override { replace_all(token, replacement_, " "); }

 private:
  std::string replacement_;
  bool strip_first_;
};

char32_t single_char(const std::string& s, const char* where) {
  if (s.empty() || decode_utf8(s, 0).len != s.size()) {
    throw Error(std::string(where) + ": expected one character, got \"" + s + "\"");
  }
  return decode_utf8(s, 0).cp;
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.value("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& p : spec.at("decoders")) {
      if (auto d = make_decoder(p)) parts.push_back(std::move(d));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(string_pattern(spec.at("pattern"), "decoder Replace"),
                                            spec.at("content").get<std::string>());
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(single_char(spec.at("content").get<std::string>(), "decoder Strip"),
                                          spec.at("start").get<std::size_t>(),
                                          spec.at("stop").get<std::size_t>());
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    const std::string scheme =
        spec.value("prepend_scheme", spec.value("add_prefix_space", true) ? "always" : "never");
    return std::make_unique<MetaspaceDecoder>(spec.value("replacement", "\xE2\x96\x81"), scheme != "never");
  }
  throw Error("decoder \"" + type + "\" is not supported");
}

}  // namespace pensieve::tokenizer
