#include "tokenizer/bpe_model.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <queue>

#include "common/error.h"
#include "tokenizer/unicode.h"

namespace pensieve::tokenizer {

using nlohmann::json;

BpeModel::BpeModel(const json& spec) {
  const std::string type = spec.value("type", "BPE");
  if (type != "BPE") throw Error("model \"" + type + "\" is not supported (only BPE)");
  if (!spec.value("dropout", json()).is_null() && spec["dropout"].get<double>() != 0.0) {
    throw Error("BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (spec.contains(key) && !spec[key].is_null() && !spec[key].get<std::string>().empty()) {
      throw Error(std::string("BPE ") + key + " is not supported");
    }
  }
  byte_fallback_ = spec.value("byte_fallback", false);
  fuse_unk_ = spec.value("fuse_unk", false);
  ignore_merges_ = spec.value("ignore_merges", false);

  const json& vocab = spec.at("vocab");
  if (!vocab.is_object()) throw Error("BPE vocab is not an object");
  vocab_.reserve(vocab.size());
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab.items()) {
    const auto value = id.get<int64_t>();
    if (value < 0 || value > INT32_MAX) throw Error("BPE vocab id out of range for " + token);
    vocab_[token] = static_cast<int32_t>(value);
    max_id = std::max(max_id, static_cast<int32_t>(value));
  }
  id_to_token_.assign(static_cast<std::size_t>(max_id + 1), nullptr);
  for (const auto& [token, id] : vocab_) id_to_token_[static_cast<std::size_t>(id)] = &token;

  if (spec.contains("unk_token") && spec["unk_token"].is_string()) {
    if (auto id = token_to_id(spec["unk_token"].get<std::string>())) unk_id_ = *id;
  }
  byte_ids_.assign(256, -1);
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    if (auto id = token_to_id(name)) byte_ids_[static_cast<std::size_t>(b)] = *id;
  }

  const json& merges = spec.at("merges");
  merges_.reserve(merges.size());
  uint32_t rank = 0;
  for (const auto& m : merges) {
    std::string left, right;
    if (m.is_string()) {  // older files: "a b"
      const auto s = m.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos) throw Error("BPE merge without a space: " + s);
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      left = m.at(0).get<std::string>();
      right = m.at(1).get<std::string>();
    }
    const auto a = token_to_id(left), b = token_to_id(right), r = token_to_id(left + right);
    if (!a || !b) throw Error("BPE merge of unknown token: " + left + " " + right);
    if (!r) throw Error("BPE merge result not in vocab: " + left + right);
    merges_[pair_key(*a, *b)] = Merge{rank++, *r};  // a repeated pair keeps its last rank
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size()) return nullptr;
  return id_to_token_[static_cast<std::size_t>(id)];
}

// One symbol per character: its vocab id, else its bytes as <0xXX> tokens, else <unk>
// (consecutive unknowns fused into one when fuse_unk).
void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.clear();
  uint32_t pending_unk_len = 0;  // bytes covered by an <unk> not yet added; 0 when none
  const auto add = [&](int32_t id, uint32_t len) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, n - 1, -1, len});
    if (n > 0) symbols[static_cast<std::size_t>(n - 1)].next = n;
  };
  std::string piece;
  for (std::size_t pos = 0; pos < word.size();) {
    const std::size_t len = decode_utf8(word, pos).len;
    piece.assign(word.substr(pos, len));
    pos += len;
    if (const auto it = vocab_.find(piece); it != vocab_.end()) {
      if (pending_unk_len) add(*unk_id_, pending_unk_len);
      pending_unk_len = 0;
      add(it->second, static_cast<uint32_t>(len));
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : piece) all = all && byte_ids_[c] >= 0;
      if (all) {
        // Like `tokenizers`, a pending unknown is not flushed here, so it lands after the bytes.
        for (unsigned char c : piece) add(byte_ids_[c], 1);
        continue;
      }
    }
    if (!unk_id_) throw Error("tokenizer has no unknown token for text outside its vocabulary");
    if (pending_unk_len && fuse_unk_) {
      pending_unk_len += static_cast<uint32_t>(len);
    } else {
      if (pending_unk_len) add(*unk_id_, pending_unk_len);
      pending_unk_len = static_cast<uint32_t>(len);
    }
  }
  if (pending_unk_len) add(*unk_id_, pending_unk_len);
}

void BpeModel::merge_all(std::vector<Symbol>& symbols) const {
  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto consider = [&](int32_t left) {
    const int32_t right = symbols[static_cast<std::size_t>(left)].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[static_cast<std::size_t>(left)].id,
                                          symbols[static_cast<std::size_t>(right)].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.result});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
    if (left.len == 0 || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.result != top.result) continue;  // stale entry
    left.id = top.result;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kCacheableWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  merge_all(symbols);
  const std::size_t first = out.size();
  for (const Symbol& s : symbols) {
    if (s.len > 0) out.push_back(s.id);
  }
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::move(key), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
  }
}

}  // namespace pensieve::tokenizer
