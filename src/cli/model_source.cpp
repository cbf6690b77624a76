#include "cli/model_source.h"

#include "common/error.h"

namespace pensieve::cli {

std::filesystem::path resolve_model_dir(const std::string& model) {
  std::filesystem::path p(model);
  if (std::filesystem::is_directory(p)) return p;
  if (std::filesystem::exists(p)) throw Error("model path " + model + " is not a directory");
  throw Error("model '" + model +
              "' is not a local directory and cannot be downloaded from the Hugging Face Hub "
              "here; pass a local model directory with -m /path/to/model");
}

}  // namespace pensieve::cli
