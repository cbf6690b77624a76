// `pensieve bench`: prompt-processing and generation speed, time to first token and peak memory
// of one model, in the spirit of llama-bench: a table by default, JSON with --json.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
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
  int kv_bits = 0;
  int kv_group_size = 32;
  std::string kv_dtype = "auto";  // unquantized KV storage (model::LoadOptions::kv_dtype)
  int depth = 0;  // synthetic context positions in the cache before the prompt
  bool json = false;
};

struct Run {
  double prefill_tps = 0, decode_tps = 0, ttft_s = 0;
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


// Parameters as the unquantized model counts them (quantization packs, it does not remove).
std::int64_t parameter_count(const model::ModelConfig& c) {
  const double h = c.hidden_size, kv = static_cast<double>(c.num_key_value_heads) * c.head_dim;
  const double per_layer = h * (h + 2 * kv) + h * h + h * 2.0 * c.intermediate_size +
                           c.intermediate_size * h + 2 * h;
  const double embeddings = static_cast<double>(c.vocab_size) * h * (c.tie_word_embeddings ? 1 : 2);
  return std::llround(c.num_hidden_layers * per_layer + embeddings + h);
}

std::string quant_name(const model::ModelConfig& c, mlx::core::Dtype dtype) {
  if (!c.quantization) return dtype_name(dtype);
  return "Q" + std::to_string(c.quantization->bits) + " g" + std::to_string(c.quantization->group_size);
}

std::string human(double value, const char* const* units, int count, double step) {
  int unit = 0;
  while (value >= step && unit + 1 < count) {
    value /= step;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", value, units[unit]);
  return buf;
}

std::string mean_sd(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f ± %.2f", mean, sd);
  return buf;
}

// Display width of a UTF-8 string: the ± counts once.
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
}

void print_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<std::size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line = "|";
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(w[i] - width(r[i]), ' ');
      line += " " + (right[i] ? pad + r[i] : r[i] + pad) + " |";
    }
    std::cout << line << '\n';
  };
  print_row(rows[0]);
  std::string rule = "|";
  for (std::size_t i = 0; i < w.size(); ++i)
    rule += " " + (right[i] ? std::string(w[i] - 1, '-') + ":" : std::string(w[i], '-')) + " |";
  std::cout << rule << '\n';
  for (std::size_t r = 1; r < rows.size(); ++r) print_row(rows[r]);
}

// A cache holding `depth` positions of random keys and values in every layer, with room for
// `room` more: a long context for measuring decode speed and memory without an N-token prefill.
// One random chunk is encoded once and written over and over (the contents do not matter for
// speed; the storage is real).
model::KVCache synthetic_cache(const model::Phi3Model& model, int kv_bits, int kv_group_size, int depth,
                               int room) {
  namespace mx = mlx::core;
  const auto& c = model.config();
  auto cache = model.make_cache(kv_bits, kv_group_size);
  if (depth == 0) return cache;
  mx::clear_cache();  // buffers freed at load must not count towards the peak beside the KV
  cache.reserve_hint(depth + room);  // one allocation of the final size, never a grow-by-copy
  const int chunk = std::min(depth, 1024);
  auto random = [&](uint64_t seed) {
    return mx::astype(mx::random::normal({1, c.num_key_value_heads, chunk, c.head_dim}, mx::float32, 0.0f, 1.0f,
                                         mx::random::key(seed)),
                      model.dtype());
  };
  const auto keys = cache.encode(random(1)), values = cache.encode(random(2));
  mx::eval(keys);
  mx::eval(values);
  auto head = [](const std::vector<mx::array>& parts, int n) {
    std::vector<mx::array> out;
    for (const auto& a : parts) out.push_back(mx::slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), n, a.shape(3)}));
    return out;
  };
  for (int done = 0; done < depth;) {
    const int n = std::min(chunk, depth - done);
    const auto k = n == chunk ? keys : head(keys, n), v = n == chunk ? values : head(values, n);
    for (int layer = 0; layer < c.num_hidden_layers; ++layer) cache.append_encoded(layer, k, v);
    mx::eval(cache.state());
    done += n;
  }
  // The fill's chunks and MLX's cached free buffers go back to the system before the run.
  mx::clear_cache();
  return cache;
}

void bench(const BenchOptions& o) {
  namespace mx = mlx::core;
  auto dir = resolve_model_dir(o.model, {.quiet = o.json});
  const auto t0 = std::chrono::steady_clock::now();
  auto tok = tokenizer::Tokenizer::from_directory(dir);
  model::LoadOptions load_options;
  if (o.kv_dtype != "auto") load_options.kv_dtype = o.kv_dtype == "float16" ? mx::float16 : mx::float32;
  auto model = model::Phi3Model::load(dir, load_options);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  engine::Generator generator(model, tok, o.kv_bits, o.kv_group_size);

  // A fixed pseudo-random prompt of ordinary vocabulary ids (no control tokens).
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(100, std::min(31999, model.config().vocab_size - 1));
  engine::GenerationRequest req;
  for (int i = 0; i < o.depth + o.prompt_tokens; ++i) req.prompt.push_back(pick(rng));
  req.sampling.temperature = 0;
  req.max_tokens = o.gen_tokens;
  req.prefill_chunk = o.prefill_chunk;
  req.ignore_eos = true;

  std::vector<Run> runs;
  for (int r = 0; r < o.repeats; ++r) {
    // Each run starts from its own cache; a deep one is built (untimed) before the run.
    auto result = o.depth > 0 ? generator.generate(req, synthetic_cache(model, o.kv_bits, o.kv_group_size, o.depth,
                                                                        o.prompt_tokens + o.gen_tokens),
                                                   o.depth)
                              : generator.generate(req);
    Run run;
    // The first token is chosen from the prompt's last logits: its time is the prompt's time.
    run.ttft_s = result.prefill_seconds;
    run.prefill_tps = o.prompt_tokens / result.prefill_seconds;
    run.decode_tps = result.tokens.size() > 1 ? (result.tokens.size() - 1) / result.decode_seconds : 0;
    runs.push_back(run);
  }
  auto best = [&](auto field, bool lowest) {
    double b = runs[0].*field;
    for (const auto& r : runs) b = lowest ? std::min(b, r.*field) : std::max(b, r.*field);
    return b;
  };

  // What the cache of one run holds at its end, as the storage grows (steps of 256 positions).
  const std::size_t positions = static_cast<std::size_t>(o.depth + o.prompt_tokens + o.gen_tokens);
  const std::size_t kv_per_token = model.kv_bytes_per_token(o.kv_bits, o.kv_group_size);
  const std::size_t kv_bytes = (positions + 255) / 256 * 256 * kv_per_token;
  if (o.json) {
    nlohmann::json out_runs = nlohmann::json::array();
    for (const auto& r : runs)
      out_runs.push_back({{"prefill_tokens_per_s", r.prefill_tps}, {"decode_tokens_per_s", r.decode_tps},
                          {"time_to_first_token_s", r.ttft_s}});
    nlohmann::json out = {{"engine", "pensieve"},
                          {"model", dir.string()},
                          {"dtype", dtype_name(model.dtype())},
                          {"quantization", quant_name(model.config(), model.dtype())},
                          {"parameters", parameter_count(model.config())},
                          {"prompt_tokens", o.prompt_tokens},
                          {"generated_tokens", o.gen_tokens},
                          {"repeats", o.repeats},
                          {"kv_bits", o.kv_bits},
                          {"kv_dtype", o.kv_bits ? nlohmann::json() : nlohmann::json(dtype_name(model.kv_dtype()))},
                          {"depth", o.depth},
                          {"kv_bytes_per_token", kv_per_token},
                          {"kv_bytes", kv_bytes},
                          {"load_seconds", load_s},
                          {"weight_bytes", model.weight_bytes()},
                          {"prefill_tokens_per_s", best(&Run::prefill_tps, false)},
                          {"decode_tokens_per_s", best(&Run::decode_tps, false)},
                          {"time_to_first_token_s", best(&Run::ttft_s, true)},
                          {"peak_memory_bytes", mx::get_peak_memory()},
                          {"peak_rss_bytes", peak_rss_bytes()},
                          {"runs", out_runs}};
    std::cout << out.dump(2) << std::endl;
    return;
  }

  static const char* const kBytes[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  static const char* const kCount[] = {"", "K", "M", "B", "T"};
  const std::string name = dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  const std::string model_col = name + " " + quant_name(model.config(), model.dtype());
  const std::string size = human(static_cast<double>(model.weight_bytes()), kBytes, 5, 1024);
  const std::string params = human(static_cast<double>(parameter_count(model.config())), kCount, 5, 1000);
  std::vector<double> pp, tg, ttft;
  for (const auto& r : runs) {
    pp.push_back(r.prefill_tps);
    tg.push_back(r.decode_tps);
    ttft.push_back(r.ttft_s * 1000);
  }
  print_table({{"model", "size", "params", "dtype", "test", "t/s", "ttft ms"},
               {model_col, size, params, dtype_name(model.dtype()), "pp" + std::to_string(o.prompt_tokens),
                mean_sd(pp), mean_sd(ttft)},
               {model_col, size, params, dtype_name(model.dtype()), "tg" + std::to_string(o.gen_tokens),
                mean_sd(tg), ""}},
              {false, true, true, false, false, true, true});
  char load[32];
  std::snprintf(load, sizeof load, "%.2f s", load_s);
  std::cout << "\nload " << load << ", context " << positions << " positions, KV "
            << (o.kv_bits ? std::to_string(o.kv_bits) + "-bit g" + std::to_string(o.kv_group_size) + " "
                          : dtype_name(model.kv_dtype()) + " ")
            << human(static_cast<double>(kv_bytes), kBytes, 5, 1024)
            << ", peak memory "
            << human(static_cast<double>(mx::get_peak_memory()), kBytes, 5, 1024) << " (MLX), peak RSS "
            << human(static_cast<double>(peak_rss_bytes()), kBytes, 5, 1024) << ", " << o.repeats
            << (o.repeats == 1 ? " run" : " runs") << std::endl;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Measure prompt and generation tokens/s, time to first token and peak memory");
  cmd->add_option("-m,--model", o->model, "Model directory or Hugging Face repo id")->required();
  cmd->add_option("-p,--prompt-tokens", o->prompt_tokens, "Prompt length (test ppN)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("-n,--gen-tokens", o->gen_tokens, "Tokens to generate (test tgN)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--prefill-chunk", o->prefill_chunk, "Prompt tokens per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("-r,--repeats", o->repeats, "Repetitions (table: mean ± sd; JSON: best)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--kv-bits", o->kv_bits, "KV cache storage: 8 or 4 bits (quantized); default: unquantized")
      ->check(CLI::IsMember({4, 8}));
  cmd->add_option("--kv-group-size", o->kv_group_size,
                  "Quantization group of --kv-bits along head_dim (must divide it; 96 on Phi-3: 4.33 bits a value at 4 bits)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--kv-dtype", o->kv_dtype, "Unquantized KV cache storage: auto (float16 for float32 activations on the CPU, else the activation dtype), float16, float32")
      ->check(CLI::IsMember({"auto", "float16", "float32"}))->capture_default_str();
  cmd->add_option("--depth", o->depth, "Positions of synthetic keys/values in the cache before the prompt (long-context decode)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object on stdout instead of the table");
  cmd->footer(
      "Speeds are for one sequence: ppN runs an N-token prompt, tgN generates N tokens after it\n"
      "(greedy, end of sequence ignored); ttft is the time from the prompt to the first token.\n\n"
      "Examples:\n"
      "  pensieve bench -m ~/models/phi3\n"
      "  pensieve bench -m ~/models/phi3 -p 1024 -n 256 -r 3\n"
      "  pensieve bench -m ~/models/phi3 --json > bench.json\n"
      "  pensieve bench -m ~/models/phi3 --kv-bits 4 --kv-group-size 96 --depth 131072 -p 1 -n 16");
  cmd->callback([o] { bench(*o); });
}

}  // namespace pensieve::cli
