#include "tokenizer/pre_tokenizer.h"

#include <array>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/regex_split.h"
#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {
namespace {

using nlohmann::json;

struct ByteMap {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> to_byte{};
  ByteMap() {
    to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      const int cp = printable ? b : next++;
      append_utf8(to_unicode[static_cast<std::size_t>(b)], static_cast<char32_t>(cp));
      to_byte[static_cast<std::size_t>(cp)] = b;
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

template <typename Splitter>
void split_each(std::vector<Word>& words, Splitter&& split) {
  std::vector<Word> out;
  out.reserve(words.size());
  for (Word& w : words) {
    std::vector<ByteRange> ranges = split(w.text);
    for (const auto& [b, e] : ranges) {
      if (b == e) continue;
      out.push_back({w.text.substr(b, e - b), w.at_input_start && b == 0});
    }
  }
  words = std::move(out);
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    for (const auto& p : parts_) p->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    if (add_prefix_space_) {
      for (Word& w : words) {
        if (w.text.empty() || w.text[0] != ' ') w.text = " " + w.text;
      }
    }
    if (use_regex_) {
      split_each(words, [](const std::string& t) { return regex_split(t, SplitPattern::kGpt2); });
    }
    const ByteMap& map = byte_map();
    for (Word& w : words) {
      std::string mapped;
      mapped.reserve(w.text.size() * 2);
      for (unsigned char c : w.text) mapped += map.to_unicode[c];
      w.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(SplitPattern pattern) : pattern_(pattern) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    split_each(words, [this](const std::string& t) { return regex_split(t, pattern_); });
  }

 private:
  SplitPattern pattern_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    for (Word& w : words) {
      replace_all(w.text, " ", replacement_);
      const bool starts = w.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && w.at_input_start))) {
        w.text = replacement_ + w.text;
      }
    }
    if (!split_) return;
    // Each word starts at a replacement character, which stays with the text after it.
    split_each(words, [this](const std::string& t) {
      std::vector<ByteRange> ranges;
      std::size_t begin = 0;
      for (std::size_t hit = t.find(replacement_, 1); hit != std::string::npos;
           hit = t.find(replacement_, hit + replacement_.size())) {
        if (hit > begin) ranges.emplace_back(begin, hit);
        begin = hit;
      }
      ranges.emplace_back(begin, t.size());
      return ranges;
    });
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

std::unique_ptr<PreTokenizer> make_split(const json& spec) {
  const json& pattern = spec.at("pattern");
  if (!pattern.contains("Regex")) {
    throw Error("pre_tokenizer Split with pattern " + pattern.dump() + " is not supported");
  }
  const auto regex = pattern["Regex"].get<std::string>();
  const auto known = recognise_split_pattern(regex);
  if (!known) throw Error("pre_tokenizer Split with regex " + regex + " is not supported");
  const std::string behavior = spec.value("behavior", "Isolated");
  if (behavior != "Isolated" || spec.value("invert", false)) {
    throw Error("pre_tokenizer Split with behavior " + behavior +
                (spec.value("invert", false) ? " (inverted)" : "") + " is not supported");
  }
  return std::make_unique<SplitPreTokenizer>(*known);
}

std::unique_ptr<PreTokenizer> make_metaspace(const json& spec) {
  const std::string scheme = spec.value("prepend_scheme", spec.value("add_prefix_space", true) ? "always" : "never");
  MetaspacePreTokenizer::Prepend prepend;
  if (scheme == "always") prepend = MetaspacePreTokenizer::Prepend::kAlways;
  else if (scheme == "first") prepend = MetaspacePreTokenizer::Prepend::kFirst;
  else if (scheme == "never") prepend = MetaspacePreTokenizer::Prepend::kNever;
  else throw Error("pre_tokenizer Metaspace prepend_scheme \"" + scheme + "\" is not supported");
  return std::make_unique<MetaspacePreTokenizer>(spec.value("replacement", "\xE2\x96\x81"), prepend,
                                                 spec.value("split", true));
}

}  // namespace

const std::string& byte_to_unicode(unsigned char byte) { return byte_map().to_unicode[byte]; }

int unicode_to_byte(char32_t cp) {
  return cp < 512 ? byte_map().to_byte[static_cast<std::size_t>(cp)] : -1;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& spec) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.value("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : spec.at("pretokenizers")) {
      if (auto pt = make_pre_tokenizer(p)) parts.push_back(std::move(pt));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(spec.value("add_prefix_space", true),
                                                   spec.value("use_regex", true));
  }
  if (type == "Split") return make_split(spec);
  if (type == "Metaspace") return make_metaspace(spec);
  throw Error("pre_tokenizer \"" + type + "\" is not supported");
}

}  // namespace pensieve::tokenizer
