#include "grammar/llg_matcher.h"

#include <llguidance.h>

#include <map>
#include <mutex>

#include "common/error.h"

namespace pensieve::grammar {
namespace {

// llguidance marks special tokens by a leading 0xFF byte: grammars never produce them, and
// text can never spell them.
constexpr char kSpecialMarker = '\xff';

std::shared_ptr<LlgTokenizer> build_tokenizer(const Vocabulary& vocab) {
  const size_t n = vocab.token_bytes.size();
  if (n == 0 || vocab.is_special.size() != n)
    throw Error("grammar: the vocabulary is empty or its special-token flags do not match it");
  if (vocab.eos_id < 0 || static_cast<size_t>(vocab.eos_id) >= n)
    throw Error("grammar: the vocabulary's EOS token is out of range");
  std::vector<uint32_t> lens(n);
  std::string bytes;
  for (size_t i = 0; i < n; ++i) {
    std::string token = vocab.token_bytes[i];
    if (vocab.is_special[i] || token.empty()) token = kSpecialMarker + token;
    lens[i] = static_cast<uint32_t>(token.size());
    bytes += token;
  }
  LlgTokenizerInit init{};
  init.vocab_size = static_cast<uint32_t>(n);
  init.tok_eos = static_cast<LlgToken>(vocab.eos_id);
  init.token_lens = lens.data();
  init.token_bytes = reinterpret_cast<const uint8_t*>(bytes.data());
  // Grammars here never force tokens, so llguidance needs no exact tokenizer.
  init.use_approximate_greedy_tokenize_fn = true;
  char error[512] = {0};
  LlgTokenizer* tokenizer = llg_new_tokenizer(&init, error, sizeof error);
  if (tokenizer == nullptr) throw Error(std::string("grammar: vocabulary rejected: ") + error);
  return {tokenizer, llg_free_tokenizer};
}

}  // namespace

std::shared_ptr<LlgTokenizer> llg_tokenizer_for(const std::shared_ptr<const Vocabulary>& vocab) {
  // The trie takes tens of milliseconds to build, compiling a grammar on it about one, so it is
  // built once and lives as long as its Vocabulary. Entries of vocabularies gone are dropped
  // before each look-up, so a new Vocabulary at a freed address never finds a stale trie.
  struct Entry {
    std::weak_ptr<const Vocabulary> vocab;
    std::shared_ptr<LlgTokenizer> tokenizer;
  };
  static std::mutex mutex;
  static std::map<const Vocabulary*, Entry> cache;
  std::lock_guard lock(mutex);
  for (auto it = cache.begin(); it != cache.end();) {
    it = it->second.vocab.expired() ? cache.erase(it) : std::next(it);
  }
  if (auto found = cache.find(vocab.get()); found != cache.end()) return found->second.tokenizer;
  auto tokenizer = build_tokenizer(*vocab);
  cache[vocab.get()] = Entry{vocab, tokenizer};
  return tokenizer;
}

Matcher::Matcher(LlgMatcher* handle) : handle_(handle) {}

Matcher::Matcher(const LlgTokenizer* tokenizer, const char* kind, const std::string& data,
                 const std::string& what) {
  LlgConstraintInit init{};
  llg_constraint_init_set_defaults(&init, tokenizer);
  init.log_stderr_level = 0;  // problems surface as errors, not as lines on stderr
  init.log_buffer_level = 0;
  init.limits.verbose_errors = false;  // messages go to clients: no grammar dumps
  handle_ = llg_new_matcher(&init, kind, data.c_str());
  if (const char* error = llg_matcher_get_error(handle_)) {
    std::string message = what + ": " + error;
    llg_free_matcher(handle_);
    throw Error(message);
  }
}

Matcher::~Matcher() { llg_free_matcher(handle_); }

std::unique_ptr<Matcher> Matcher::clone() const {
  return std::unique_ptr<Matcher>(new Matcher(llg_clone_matcher(handle_)));
}

size_t Matcher::mask_words() const { return llg_matcher_get_mask_byte_size(handle_) / 4; }

void Matcher::throw_if_error(const char* doing) const {
  const char* error = llg_matcher_get_error(handle_);
  throw Error(std::string("grammar: ") + doing + " failed: " + (error ? error : "unknown error"));
}

void Matcher::compute_mask(uint32_t* dest, size_t words) {
  if (llg_matcher_compute_mask_into(handle_, dest, words * 4) != 0) throw_if_error("token mask");
}

size_t Matcher::count_acceptable(const uint32_t* tokens, size_t n) {
  const int32_t accepted = llg_matcher_validate_tokens(handle_, tokens, n);
  if (accepted < 0) throw_if_error("token check");
  return static_cast<size_t>(accepted);
}

void Matcher::consume(const uint32_t* tokens, size_t n) {
  if (llg_matcher_consume_tokens(handle_, tokens, n) != 0) throw_if_error("advancing");
}

bool Matcher::is_stopped() const { return llg_matcher_is_stopped(handle_); }

}  // namespace pensieve::grammar
