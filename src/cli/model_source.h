#pragma once
// Turns the -m argument of a command into a model directory on disk.
#include <filesystem>
#include <string>

namespace pensieve::cli {

// A local directory is used as it is. (Hugging Face repository ids are resolved by the hub
// module; until then they are an error that says how to pass a local directory.)
std::filesystem::path resolve_model_dir(const std::string& model);

}  // namespace pensieve::cli
