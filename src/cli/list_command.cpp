// `pensieve list`: the models in the Hugging Face cache, their revisions, sizes and completeness.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "hub/cache_admin.h"
#include "hub/cache_layout.h"
#include "hub/disk_space.h"

namespace pensieve::cli {
namespace {

const char* completeness_name(hub::Completeness c) {
  switch (c) {
    case hub::Completeness::complete: return "yes";
    case hub::Completeness::incomplete: return "no";
    default: return "unknown";
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

}  // namespace

void add_list_command(CLI::App& app) {
  auto json_out = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("list", "List the models in the Hugging Face cache");
  cmd->add_flag("--json", *json_out, "One JSON document instead of a table");
  cmd->footer("Examples:\n"
              "  pensieve list\n"
              "  pensieve list --json");
  cmd->callback([json_out] {
    auto root = hub::default_hub_cache_dir();
    auto repos = hub::list_cached_repos(root);
    if (*json_out) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : repos) {
        nlohmann::json snaps = nlohmann::json::array();
        for (const auto& s : r.snapshots)
          snaps.push_back({{"commit", s.commit}, {"refs", s.refs}, {"path", s.dir.string()},
                           {"size_on_disk", s.size_on_disk}, {"files", s.files_present},
                           {"complete", completeness_name(s.completeness)}, {"problem", s.problem}});
        out.push_back({{"repo_id", r.repo_id}, {"size_on_disk", r.size_on_disk}, {"snapshots", snaps}});
      }
      std::cout << out.dump(1) << std::endl;
      return;
    }
    if (repos.empty()) {
      std::cout << "no models in " << root.string() << std::endl;
      return;
    }
    std::printf("%-48s %-12s %-10s %10s  %s\n", "REPOSITORY", "REVISION", "COMMIT", "SIZE", "COMPLETE");
    for (const auto& r : repos) {
      if (r.snapshots.empty())
        std::printf("%-48s %-12s %-10s %10s  %s\n", r.repo_id.c_str(), "-", "-",
                    hub::format_bytes(r.size_on_disk).c_str(), "no (nothing downloaded yet)");
      for (const auto& s : r.snapshots) {
        std::string complete = completeness_name(s.completeness);
        if (!s.problem.empty() && s.completeness == hub::Completeness::incomplete) complete += " (" + s.problem + ")";
        std::printf("%-48s %-12s %-10s %10s  %s\n", r.repo_id.c_str(),
                    s.refs.empty() ? "-" : join(s.refs).c_str(), s.commit.substr(0, 8).c_str(),
                    hub::format_bytes(s.size_on_disk).c_str(), complete.c_str());
      }
    }
  });
}

}  // namespace pensieve::cli
