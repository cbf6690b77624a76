// `pensieve template`: renders a chat template, for checking it against transformers.
//   pensieve template --template FILE --context FILE|-
//   pensieve template -m MODEL_DIR --messages FILE|- [--tools FILE] [--add-generation-prompt]
// Prints the rendered text exactly as is (no newline added).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "tokenizer/chat_template.h"

namespace pensieve::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::string read_text(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ordered_json read_json(const std::string& path) {
  try {
    return ordered_json::parse(read_text(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

// A special token in tokenizer_config.json is a string or an AddedToken object.
std::optional<std::string> token_text(const ordered_json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const ordered_json& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
  return std::nullopt;
}

// The model's template as transformers finds it: chat_template.jinja, then tokenizer_config.json
// (a string, or the "default" entry of a list of named templates), else Phi-3's.
std::string model_template(const fs::path& dir, const ordered_json& config) {
  if (fs::exists(dir / "chat_template.jinja")) return read_text((dir / "chat_template.jinja").string());
  if (config.contains("chat_template")) {
    const ordered_json& t = config["chat_template"];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_array()) {
      for (const auto& entry : t) {
        if (entry.value("name", "") == "default" && entry.contains("template")) return entry["template"].get<std::string>();
      }
    }
  }
  return tokenizer::ChatTemplate::builtin_phi3();
}

struct Options {
  std::string template_file;
  std::string context_file;
  std::string model_dir;
  std::string messages_file;
  std::string tools_file;
  bool add_generation_prompt = false;
};

void run(const Options& o) {
  std::string source;
  ordered_json context;
  if (!o.model_dir.empty()) {
    if (o.messages_file.empty()) throw Error("-m needs --messages FILE");
    const fs::path dir(o.model_dir);
    ordered_json config = ordered_json::object();
    if (fs::exists(dir / "tokenizer_config.json")) config = read_json((dir / "tokenizer_config.json").string());
    source = model_template(dir, config);
    context = ordered_json::object();
    context["messages"] = read_json(o.messages_file);
    if (!o.tools_file.empty()) context["tools"] = read_json(o.tools_file);
    context["add_generation_prompt"] = o.add_generation_prompt;
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (auto t = token_text(config, key)) context[key] = *t;
    }
  } else {
    if (o.template_file.empty() || o.context_file.empty()) {
      throw Error("give --template FILE --context FILE, or -m MODEL_DIR --messages FILE");
    }
    source = read_text(o.template_file);
    context = read_json(o.context_file);
  }
  const tokenizer::ChatTemplate chat_template(std::move(source));
  const std::string text = chat_template.render(context);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_template_command(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("template", "Render a chat template (as transformers' apply_chat_template)");
  cmd->add_option("--template", options->template_file, "Jinja chat template file");
  cmd->add_option("--context", options->context_file, "JSON context file (- for stdin)");
  cmd->add_option("-m,--model", options->model_dir, "Model directory: use its chat template and special tokens");
  cmd->add_option("--messages", options->messages_file, "JSON list of messages (with -m; - for stdin)");
  cmd->add_option("--tools", options->tools_file, "JSON list of tool definitions (with -m)");
  cmd->add_flag("--add-generation-prompt", options->add_generation_prompt, "End with the assistant prompt (with -m)");
  cmd->footer("Examples:\n"
              "  pensieve template -m ~/models/phi3 --messages chat.json --add-generation-prompt\n"
              "  pensieve template --template tmpl.jinja --context context.json");
  cmd->callback([options] { run(*options); });
}

}  // namespace pensieve::cli
