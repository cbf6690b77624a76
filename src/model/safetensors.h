#pragma once
// Reading safetensors files (single or sharded with model.safetensors.index.json) into MLX
// arrays. The header of every file is checked by Pensieve before MLX sees it — offsets inside
// the file, sizes matching shape × dtype, no overlaps — so a truncated or malformed file is a
// clear error, never a crash or a read past the end.
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include <mlx/mlx.h>

namespace pensieve::model {

struct TensorInfo {
  std::string dtype;       // safetensors spelling: F32, F16, BF16, U32, ...
  std::vector<int> shape;
  std::uint64_t offset = 0;  // of the data, from the start of the file (checked to lie inside it)
  std::uint64_t nbytes = 0;  // shape × dtype size
};

// One tensor of a model directory: MLX's lazy array over it (nothing is read until it is
// evaluated) and where its bytes are, for loaders that read them directly.
struct WeightEntry {
  mlx::core::array array;
  std::filesystem::path file;
  TensorInfo info;
};

// Validates one file's header and returns its tensor table; throws pensieve::Error naming the
// file and the problem.
std::unordered_map<std::string, TensorInfo> read_safetensors_header(const std::filesystem::path& file);

// The weight files of a model directory: model.safetensors.index.json's shards when present,
// else every *.safetensors file. Throws when there are none or a listed shard is missing.
std::vector<std::filesystem::path> weight_files(const std::filesystem::path& model_dir);

// Every tensor of the directory's weight files (validated first), unevaluated. Names must be
// unique.
std::unordered_map<std::string, WeightEntry> load_weights(const std::filesystem::path& model_dir);

}  // namespace pensieve::model
