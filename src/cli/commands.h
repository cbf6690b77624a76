#pragma once
// Each `pensieve` subcommand lives in its own file and registers itself on the app here.
#include <CLI/CLI.hpp>

namespace pensieve::cli {

void add_run_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_tokenize_commands(CLI::App& app);  // tokenize, detokenize
void add_template_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_pull_command(CLI::App& app);
void add_list_command(CLI::App& app);
void add_rm_command(CLI::App& app);

}  // namespace pensieve::cli
