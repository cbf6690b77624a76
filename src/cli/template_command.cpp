#include "cli/commands.h"

namespace pensieve::cli {

void add_template_command(CLI::App& /*app*/) {}

}  // namespace pensieve::cli
