#pragma once
// `--config FILE` for a subcommand: a TOML or INI file whose keys are the command's long option
// names (`port = 8080`, `api-key = "..."`), at the top level or in a section named after the
// command. CLI11's own set_config serves only the top-level app, hence this.
#include <string>

#include <CLI/CLI.hpp>

namespace pensieve::cli {

// Applies the file to `command`'s options that neither the command line nor the environment
// set: the command line wins, then the environment, then the file. Throws CLI::ParseError
// (unknown key, bad value) or pensieve::Error (unreadable file).
void apply_config_file(CLI::App& command, const std::string& path);

}  // namespace pensieve::cli
