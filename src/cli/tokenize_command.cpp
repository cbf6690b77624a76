// `pensieve tokenize` and `pensieve detokenize`: text ⇄ ids with a model's tokenizer, plus
// hidden batch modes (--jsonl, --stream, --bench) that let tests and benchmarks check many strings
// in one process.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_source.h"
#include "common/error.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::cli {
namespace {

using nlohmann::json;
using tokenizer::TokenId;
using tokenizer::Tokenizer;

std::string to_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<TokenId> parse_ids(const std::string& text) {
  json parsed;
  try {
    parsed = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("token ids must be a JSON array of integers: " + std::string(e.what()));
  }
  if (!parsed.is_array()) throw Error("token ids must be a JSON array of integers");
  std::vector<TokenId> ids;
  for (const auto& v : parsed) {
    if (!v.is_number_integer()) throw Error("token ids must be a JSON array of integers");
    ids.push_back(v.get<TokenId>());
  }
  return ids;
}

std::string stream_decode(const Tokenizer& tok, const std::vector<TokenId>& ids, bool skip_special) {
  auto stream = tok.stream_decoder(skip_special);
  std::string out;
  for (TokenId id : ids) out += stream.push(id);
  return out + stream.flush();
}

struct TokenizeOptions {
  std::string model, text, bench_file;
  bool bos = false, jsonl = false;
};

struct DetokenizeOptions {
  std::string model, ids;
  bool skip_special = false, jsonl = false, stream = false;
};

// Encodes a file's text repeatedly and reports the best time, excluding start-up and loading:
// from scratch (the segment cache cleared before each round) and once more with it warm, as a
// client sending the same long prompt again finds it.
void run_bench(const Tokenizer& tok, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::size_t tokens = 0;
  const auto timed_encode = [&] {
    const auto start = std::chrono::steady_clock::now();
    tokens = tok.encode(text, false).size();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    tok.clear_segment_cache();
    best = std::min(best, timed_encode());
  }
  const double cached = timed_encode();
  std::cout << to_json({{"bytes", text.size()}, {"tokens", tokens}, {"seconds", best}, {"seconds_cached", cached}})
            << "\n";
}

void tokenize(const TokenizeOptions& o) {
  const Tokenizer tok = Tokenizer::from_directory(resolve_model_dir(o.model));
  if (!o.bench_file.empty()) return run_bench(tok, o.bench_file);
  if (!o.jsonl) {
    std::cout << to_json(tok.encode(o.text, o.bos)) << "\n";
    return;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    const json text = json::parse(line);
    if (!text.is_string()) throw Error("--jsonl expects one JSON string per line");
    std::cout << to_json(tok.encode(text.get<std::string>(), o.bos)) << "\n";
  }
}

void detokenize(const DetokenizeOptions& o) {
  const Tokenizer tok = Tokenizer::from_directory(resolve_model_dir(o.model));
  const auto decode = [&](const std::vector<TokenId>& ids) {
    return o.stream ? stream_decode(tok, ids, o.skip_special) : tok.decode(ids, o.skip_special);
  };
  if (!o.jsonl) {
    std::cout << decode(parse_ids(o.ids)) << "\n";
    return;
  }
  std::string line;
  while (std::getline(std::cin, line)) std::cout << to_json(decode(parse_ids(line))) << "\n";
}

}  // namespace

void add_tokenize_commands(CLI::App& app) {
  auto t = std::make_shared<TokenizeOptions>();
  CLI::App* tok = app.add_subcommand("tokenize", "Print the token ids of TEXT as a JSON array");
  tok->add_option("-m,--model", t->model, "Model directory")->required();
  tok->add_flag("--bos", t->bos, "Add the tokenizer's BOS (and other template tokens)");
  tok->add_option("text", t->text, "Text to tokenize");
  tok->add_flag("--jsonl", t->jsonl, "Read JSON strings from stdin, one per line")->group("");
  tok->add_option("--bench", t->bench_file, "Time the encoding of a file's text")->group("");
  tok->footer("Examples:\n"
              "  pensieve tokenize -m ~/models/phi3 \"Hello world\"\n"
              "  pensieve tokenize -m ~/models/phi3 --bos \"<|user|>Hi<|end|>\"");
  tok->callback([t] { tokenize(*t); });

  auto d = std::make_shared<DetokenizeOptions>();
  CLI::App* detok = app.add_subcommand("detokenize", "Print the text of a JSON array of token ids");
  detok->add_option("-m,--model", d->model, "Model directory")->required();
  detok->add_option("ids", d->ids, "Token ids, as a JSON array");
  detok->add_flag("--skip-special", d->skip_special, "Leave special tokens out of the text");
  detok->add_flag("--jsonl", d->jsonl, "Read JSON arrays from stdin, one per line")->group("");
  detok->add_flag("--stream", d->stream, "Decode id by id as during generation")->group("");
  detok->footer("Examples:\n"
                "  pensieve detokenize -m ~/models/phi3 \"[15043, 3186]\"\n"
                "  pensieve detokenize -m ~/models/phi3 --skip-special \"[1, 32010, 15043]\"");
  detok->callback([d] { detokenize(*d); });
}

}  // namespace pensieve::cli
