// `pensieve pull MODEL`: downloads a model into the Hugging Face cache; prints its folder.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "hub/downloader.h"
#include "hub/hub_client.h"

namespace pensieve::cli {

void add_pull_command(CLI::App& app) {
  struct Options {
    std::string model = hub::kDefaultModel;
    bool quiet = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("pull", "Download a model from the Hugging Face Hub into its cache");
  cmd->add_option("model", opts->model, "Repository id org/name[@revision]")->capture_default_str();
  cmd->add_flag("--quiet,-q", opts->quiet, "No progress display");
  cmd->footer("Examples:\n"
              "  pensieve pull\n"
              "  pensieve pull mlx-community/Phi-3-mini-128k-instruct-4bit@main -q\n"
              "Environment: HF_HUB_CACHE (where models go), HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.");
  cmd->callback([opts] {
    hub::HubClient client(hub::HubConfig::from_env());
    try {
      auto dir = client.pull(hub::parse_repo_ref(opts->model), {opts->quiet});
      std::cout << dir.string() << std::endl;
    } catch (const hub::Interrupted& e) {
      std::fprintf(stderr, "%s\n", e.what());
      throw CLI::RuntimeError(130);  // the shell's code for "ended by a signal"
    }
  });
}

}  // namespace pensieve::cli
