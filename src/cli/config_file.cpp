#include "cli/config_file.h"

#include <algorithm>
#include <fstream>

#include "common/error.h"

namespace pensieve::cli {

void apply_config_file(CLI::App& command, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read the config file " + path);
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const CLI::ParseError& e) {
    throw Error(path + ": " + e.what());
  }
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section start and end markers
    if (!item.parents.empty() && item.parents != std::vector<std::string>{command.get_name()})
      throw Error(path + ": section [" + CLI::detail::join(item.parents, ".") + "] is not for `" +
                  command.get_name() + "`");
    std::string name = item.name;
    std::replace(name.begin(), name.end(), '_', '-');
    CLI::Option* option = command.get_option_no_throw("--" + name);
    if (!option || name == "config" || name == "help")
      throw Error(path + ": `" + item.name + "` is not an option of `" + command.get_name() + "`");
    if (option->count() > 0) continue;  // given on the command line or in the environment
    try {
      option->add_result(item.inputs);
      option->run_callback();  // checks, transforms and stores the value, as parsing would have
    } catch (const CLI::Error& e) {
      throw Error(path + ": " + item.name + ": " + e.what());
    }
  }
}

}  // namespace pensieve::cli
