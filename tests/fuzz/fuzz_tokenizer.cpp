// libFuzzer target: the Phi-3 tokenizer on arbitrary bytes. Checks that encode never fails and
// gives ids inside the vocabulary, that decode(encode(text)) gives the text back (unless it holds
// added-token text or "▁"), and that stream decoding id by id equals a full decode, both for the
// ids of the text and for the input read as an arbitrary id sequence.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using pensieve::tokenizer::TokenId;
using pensieve::tokenizer::Tokenizer;

// The fixture, from PENSIEVE_TOKENIZER_DIR or next to this source file.
std::filesystem::path fixture_dir() {
  if (const char* env = std::getenv("PENSIEVE_TOKENIZER_DIR")) return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures" / "phi3-tokenizer";
}

const Tokenizer& tokenizer() {
  static const Tokenizer tok = Tokenizer::from_directory(fixture_dir());
  return tok;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_stream(const Tokenizer& tok, const std::vector<TokenId>& ids, bool skip_special) {
  auto stream = tok.stream_decoder(skip_special);
  std::string streamed;
  for (TokenId id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  check(streamed == tok.decode(ids, skip_special));
}

// Text that does not come back unchanged: added tokens (rstrip eats spaces) and "▁", which
// the decoder turns into a space.
bool changes_in_roundtrip(std::string_view text) {
  for (std::string_view t : {"<unk>", "<s>", "</s>", "<|", "\xE2\x96\x81"}) {
    if (text.find(t) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tok = tokenizer();
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const std::vector<TokenId> ids = tok.encode(input, size % 2 == 0);
  for (TokenId id : ids) check(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
  if (!changes_in_roundtrip(input)) {
    const std::vector<TokenId> plain = tok.encode(input, false);
    check(tok.decode(plain) == pensieve::tokenizer::utf8_lossy(input));
  }
  check_stream(tok, ids, false);
  check_stream(tok, ids, true);

  // The bytes as little-endian 16-bit ids: arbitrary generations, byte tokens and specials
  // included (ids past the vocabulary are ignored by decode).
  std::vector<TokenId> raw;
  for (std::size_t i = 0; i + 1 < size; i += 2) {
    const int v = data[i] | (data[i + 1] << 8);
    raw.push_back(v % 2 == 0 ? static_cast<TokenId>(3 + (v >> 1) % 256) : static_cast<TokenId>(v % 32100));
  }
  check_stream(tok, raw, false);
  check_stream(tok, raw, true);
  return 0;
}
