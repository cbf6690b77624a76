// `pensieve bench`: prefill and decode speed and peak memory of one model, as JSON on stdout.
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_source.h"
#include "engine/generator.h"
#include "model/phi3.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::cli {
namespace {

struct BenchOptions {
  std::string model;
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int prefill_chunk = 512;
  int repeats = 1;
};

std::string dtype_name(mlx::core::Dtype d) {
  std::ostringstream o;
  o << d;
  return o.str();
}

long peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss * 1024L;  // Linux reports kilobytes
}

void bench(const BenchOptions& o) {
  namespace mx = mlx::core;
  auto dir = resolve_model_dir(o.model);
  const auto t0 = std::chrono::steady_clock::now();
  auto tok = tokenizer::Tokenizer::from_directory(dir);
  auto model = model::Phi3Model::load(dir);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  engine::Generator generator(model, tok);

  // A fixed pseudo-random prompt of ordinary vocabulary ids (no control tokens).
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(100, 31999);
  engine::GenerationRequest req;
  for (int i = 0; i < o.prompt_tokens; ++i) req.prompt.push_back(pick(rng));
  req.sampling.temperature = 0;
  req.max_tokens = o.gen_tokens;
  req.prefill_chunk = o.prefill_chunk;
  req.ignore_eos = true;

  nlohmann::json runs = nlohmann::json::array();
  double best_prefill = 0, best_decode = 0;
  for (int r = 0; r < o.repeats; ++r) {
    auto result = generator.generate(req);
    const double prefill_tps = o.prompt_tokens / result.prefill_seconds;
    const double decode_tps = result.tokens.size() > 1 ? (result.tokens.size() - 1) / result.decode_seconds : 0;
    best_prefill = std::max(best_prefill, prefill_tps);
    best_decode = std::max(best_decode, decode_tps);
    runs.push_back({{"prefill_tokens_per_s", prefill_tps}, {"decode_tokens_per_s", decode_tps}});
  }
  nlohmann::json out = {{"engine", "pensieve"},
                        {"model", dir.string()},
                        {"dtype", dtype_name(model.dtype())},
                        {"prompt_tokens", o.prompt_tokens},
                        {"generated_tokens", o.gen_tokens},
                        {"load_seconds", load_s},
                        {"weight_bytes", model.weight_bytes()},
                        {"prefill_tokens_per_s", best_prefill},
                        {"decode_tokens_per_s", best_decode},
                        {"peak_memory_bytes", mx::get_peak_memory()},
                        {"peak_rss_bytes", peak_rss_bytes()},
                        {"runs", runs}};
  std::cout << out.dump(2) << std::endl;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed and peak memory (JSON)");
  cmd->add_option("-m,--model", o->model, "Model directory")->required();
  cmd->add_option("-p,--prompt-tokens", o->prompt_tokens, "Prompt length")->check(CLI::PositiveNumber);
  cmd->add_option("-n,--gen-tokens", o->gen_tokens, "Tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--prefill-chunk", o->prefill_chunk, "Prompt tokens per forward pass")->check(CLI::PositiveNumber);
  cmd->add_option("-r,--repeats", o->repeats, "Repetitions (best is reported)")->check(CLI::PositiveNumber);
  cmd->callback([o] { bench(*o); });
}

}  // namespace pensieve::cli
