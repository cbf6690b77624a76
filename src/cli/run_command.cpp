// `pensieve run`: one-shot generation; only the generated text goes to stdout.
#include <fstream>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_source.h"
#include "cli/terminal_text.h"
#include "common/error.h"
#include "common/log.h"
#include "engine/generator.h"
#include "model/phi3.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  bool raw = false;
  std::string system;
  int max_tokens = 256;
  sampling::SamplingParams sampling;
  std::vector<std::string> stop;
  std::string dtype = "auto";
  std::string logits_out;
  std::string ids_out;
  int prefill_chunk = 512;
  int kv_bits = 0;
  int kv_group_size = 32;
  std::string kv_dtype = "auto";
};

std::optional<mlx::core::Dtype> parse_dtype(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "float32") return mlx::core::float32;
  if (name == "float16") return mlx::core::float16;
  if (name == "bfloat16") return mlx::core::bfloat16;
  throw Error("--dtype must be auto, float32, float16 or bfloat16, got '" + name + "'");
}

std::vector<int32_t> build_prompt(const RunOptions& o, const tokenizer::Tokenizer& tok) {
  if (o.raw) return tok.encode(o.prompt, tok.adds_bos_by_default());
  nlohmann::json messages = nlohmann::json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  messages.push_back({{"role", "user"}, {"content", o.prompt}});
  const auto& source = tok.chat_template();
  tokenizer::ChatTemplate tmpl(source ? *source : tokenizer::ChatTemplate::builtin_phi3());
  nlohmann::json context = {{"messages", messages},
                            {"add_generation_prompt", true},
                            {"bos_token", tok.bos_token().value_or("")},
                            {"eos_token", tok.eos_token().value_or("")}};
  // The template writes BOS itself where the model wants it.
  return tok.encode(tmpl.render(context), false);
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path);
  if (!out) throw Error("cannot write " + path);
  out << j.dump() << '\n';
}

void run(RunOptions o) {
  if (o.prompt.empty() || o.prompt == "-") {
    o.prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  auto dir = resolve_model_dir(o.model);
  auto tok = tokenizer::Tokenizer::from_directory(dir);
  auto model = model::Phi3Model::load(dir, {.dtype = parse_dtype(o.dtype), .kv_dtype = parse_dtype(o.kv_dtype)});
  engine::Generator generator(model, tok, o.kv_bits, o.kv_group_size);
  auto prompt = build_prompt(o, tok);
  if (!o.logits_out.empty()) write_json_file(o.logits_out, generator.last_logits(prompt, o.prefill_chunk));

  engine::GenerationRequest req;
  req.prompt = prompt;
  req.sampling = o.sampling;
  req.max_tokens = o.max_tokens;
  req.stop = o.stop;
  req.prefill_chunk = o.prefill_chunk;
  auto result = generator.generate(req, [on_terminal = stdout_is_terminal()](std::string_view text) {
    if (on_terminal)
      std::cout << printable_on_terminal(text) << std::flush;
    else
      std::cout << text << std::flush;
    return true;
  });
  if (!o.ids_out.empty()) write_json_file(o.ids_out, result.tokens);
  const double decode_tps = result.tokens.size() > 1 && result.decode_seconds > 0
                                ? (result.tokens.size() - 1) / result.decode_seconds : 0.0;
  log::info("prompt " + std::to_string(prompt.size()) + " tokens in " +
            std::to_string(result.prefill_seconds) + " s; generated " +
            std::to_string(result.tokens.size()) + " tokens (" + std::to_string(decode_tps) +
            " tokens/s), finish: " + engine::to_string(result.finish));
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto opts = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate text for one prompt; prints only the generated text");
  cmd->add_option("-m,--model", opts->model, "Model directory")->required();
  cmd->add_option("prompt", opts->prompt, "Prompt text (default or '-': read stdin)");
  cmd->add_flag("--raw", opts->raw, "No chat template: tokenize the prompt as is (BOS as the model says)");
  cmd->add_option("--system", opts->system, "System prompt (chat mode)");
  cmd->add_option("-n,--max-tokens", opts->max_tokens, "Maximum tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp,--temperature", opts->sampling.temperature, "Temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", opts->sampling.top_k, "Top-k (0 = off)");
  cmd->add_option("--top-p", opts->sampling.top_p, "Top-p nucleus (1 = off)");
  cmd->add_option("--min-p", opts->sampling.min_p, "Min-p (0 = off)");
  cmd->add_option("--repeat-penalty", opts->sampling.repetition_penalty, "Repetition penalty (1 = off)");
  cmd->add_option("--presence-penalty", opts->sampling.presence_penalty, "Presence penalty");
  cmd->add_option("--frequency-penalty", opts->sampling.frequency_penalty, "Frequency penalty");
  cmd->add_option("--seed", opts->sampling.seed, "Random seed (same seed, same text)");
  cmd->add_option("--stop", opts->stop, "Stop string (repeatable); not included in the output");
  cmd->add_option("--dtype", opts->dtype, "Activation dtype: auto, float32, float16, bfloat16")->capture_default_str();
  cmd->add_option("--prefill-chunk", opts->prefill_chunk, "Prompt tokens per forward pass")->check(CLI::PositiveNumber);
  cmd->add_option("--kv-bits", opts->kv_bits, "KV cache storage: 8 or 4 bits (quantized); default: unquantized")->check(CLI::IsMember({4, 8}));
  cmd->add_option("--kv-group-size", opts->kv_group_size, "Quantization group of --kv-bits along head_dim (must divide it; 96 on Phi-3: 4.33 bits a value at 4 bits)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--kv-dtype", opts->kv_dtype, "Unquantized KV cache storage: auto (float16 for float32 activations on the CPU, else the activation dtype), float16, float32")
      ->check(CLI::IsMember({"auto", "float16", "float32"}))->capture_default_str();
  cmd->add_option("--logits-out", opts->logits_out, "Write the prompt's last-position logits as JSON")->group("");
  cmd->add_option("--ids-out", opts->ids_out, "Write the generated token ids as JSON")->group("");
  cmd->footer("Examples:\n"
              "  pensieve run -m ~/models/phi3 \"Why is the sky blue?\"\n"
              "  echo \"Summarise: ...\" | pensieve run -m ~/models/phi3 --temp 0 -n 100\n"
              "  pensieve run -m ~/models/phi3 --raw \"Once upon a time\" --seed 7");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace pensieve::cli
