#include "cli/commands.h"

namespace pensieve::cli {

void add_tokenize_commands(CLI::App& /*app*/) {}

}  // namespace pensieve::cli
