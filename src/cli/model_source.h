#pragma once
// Turns the -m argument of a command into a model directory on disk.
#include <filesystem>
#include <string>

namespace pensieve::cli {

struct ModelSourceOptions {
  bool quiet = false;  // no download progress
};

// A local directory is used as it is. Otherwise MODEL is a Hugging Face repository id
// `org/name[@revision]`: a complete snapshot in the Hugging Face cache is used with no network
// access, else it is downloaded (hub/hub_client.h: HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).
std::filesystem::path resolve_model_dir(const std::string& model);
std::filesystem::path resolve_model_dir(const std::string& model, const ModelSourceOptions& options);

}  // namespace pensieve::cli
