// `pensieve`: the command line. Errors from any layer end here as one line on stderr.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "common/log.h"

int main(int argc, char** argv) {
  CLI::App app{"Pensieve: a local LLM server for Phi-3 on MLX"};
  app.require_subcommand(1);
  app.fallthrough();  // `pensieve run --log-level debug …` as well as `pensieve --log-level debug run …`
  app.set_version_flag("--version", "pensieve 0.1.0");
  app.footer(
      "Run `pensieve COMMAND --help` for a command's options and examples.\n\n"
      "Examples:\n"
      "  pensieve serve                      # download the default model once, then serve it\n"
      "  pensieve chat                       # talk to it in the terminal\n"
      "  pensieve run -m ~/models/phi3 \"Why is the sky blue?\"\n"
      "  pensieve bench -m ~/models/phi3");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn, error or off")
      ->envname("PENSIEVE_LOG_LEVEL")
      ->trigger_on_parse()
      ->each([](const std::string& v) { pensieve::log::set_level(pensieve::log::parse_level(v)); });
  pensieve::cli::add_run_command(app);
  pensieve::cli::add_chat_command(app);
  pensieve::cli::add_tokenize_commands(app);
  pensieve::cli::add_template_command(app);
  pensieve::cli::add_bench_command(app);
  pensieve::cli::add_serve_command(app);
  pensieve::cli::add_pull_command(app);
  pensieve::cli::add_list_command(app);
  pensieve::cli::add_rm_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
