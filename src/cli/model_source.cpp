#include "cli/model_source.h"

#include "common/error.h"
#include "hub/hub_client.h"

namespace pensieve::cli {

std::filesystem::path resolve_model_dir(const std::string& model) {
  return resolve_model_dir(model, ModelSourceOptions{});
}

std::filesystem::path resolve_model_dir(const std::string& model, const ModelSourceOptions& options) {
  std::filesystem::path p(model);
  if (std::filesystem::is_directory(p)) return p;
  if (std::filesystem::exists(p)) throw Error("model path " + model + " is not a directory");
  bool looks_like_path = model.empty() || model[0] == '/' || model[0] == '.' || model[0] == '~' ||
                         model.find('/') == std::string::npos ||
                         model.find('/') != model.rfind('/');
  if (looks_like_path)
    throw Error("model '" + model + "' is neither a local directory nor a Hugging Face repository "
                "id (org/name[@revision]); pass a local model directory with -m /path/to/model");
  hub::RepoRef ref;
  try {
    ref = hub::parse_repo_ref(model);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; or pass a local model directory with -m /path/to/model");
  }
  hub::HubClient client(hub::HubConfig::from_env());
  // What is already complete in the cache is used with no network access at all.
  if (auto cached = client.cached_snapshot(ref)) return *cached;
  return client.pull(ref, hub::PullOptions{options.quiet});
}

}  // namespace pensieve::cli
