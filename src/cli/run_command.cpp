#include "cli/commands.h"

namespace pensieve::cli {

void add_run_command(CLI::App& /*app*/) {}

}  // namespace pensieve::cli
