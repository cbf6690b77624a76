// `pensieve rm MODEL`: removes a model (or one revision of it) from the Hugging Face cache.
#include <iostream>

#include "cli/commands.h"
#include "hub/cache_admin.h"
#include "hub/cache_layout.h"
#include "hub/disk_space.h"
#include "hub/repo_ref.h"

namespace pensieve::cli {

void add_rm_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("rm", "Remove a model from the Hugging Face cache");
  cmd->add_option("model", *model, "org/name (every revision) or org/name@revision")->required();
  cmd->footer("Examples:\n"
              "  pensieve rm mlx-community/Phi-3-mini-128k-instruct-4bit\n"
              "  pensieve rm mlx-community/Phi-3-mini-128k-instruct-4bit@0a1b2c3");
  cmd->callback([model] {
    std::optional<std::string> revision;
    std::string repo_id = *model;
    if (auto at = model->find('@'); at != std::string::npos) {
      auto ref = hub::parse_repo_ref(*model);
      repo_id = ref.repo_id;
      revision = ref.revision;
    } else {
      hub::validate_repo_id(repo_id);
    }
    auto result = hub::remove_cached(hub::default_hub_cache_dir(), repo_id, revision);
    std::string commits;
    for (const auto& c : result.commits) commits += (commits.empty() ? "" : ", ") + c.substr(0, 8);
    std::cout << "removed " << *model << " (" << (commits.empty() ? "no snapshot" : commits) << "), "
              << hub::format_bytes(result.freed_bytes) << " freed" << std::endl;
  });
}

}  // namespace pensieve::cli
