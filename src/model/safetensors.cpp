#include "model/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace pensieve::model {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit

std::size_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

Error file_error(const fs::path& file, const std::string& what) {
  return Error(file.filename().string() + ": " + what);
}

}  // namespace

std::unordered_map<std::string, TensorInfo> read_safetensors_header(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw file_error(file, "cannot be opened");
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(file, ec);
  if (ec || file_size < 8) throw file_error(file, "is truncated (shorter than its 8-byte header length)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes || header_len > file_size - 8)
    throw file_error(file, "is truncated or not a safetensors file (header length " +
                               std::to_string(header_len) + " exceeds the file)");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  json j;
  try {
    j = json::parse(header);
  } catch (const json::parse_error&) {
    throw file_error(file, "has a malformed safetensors header (invalid JSON)");
  }
  if (!j.is_object()) throw file_error(file, "has a malformed safetensors header");
  const std::uint64_t data_size = file_size - 8 - header_len;
  std::unordered_map<std::string, TensorInfo> out;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) { return file_error(file, "tensor '" + name + "' " + what); };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      throw bad("has a malformed header entry");
    const auto& dtype_j = entry.at("dtype");
    const auto& shape_j = entry.at("shape");
    const auto& offsets_j = entry.at("data_offsets");
    if (!dtype_j.is_string() || !shape_j.is_array() || !offsets_j.is_array() || offsets_j.size() != 2)
      throw bad("has a malformed header entry");
    TensorInfo info;
    info.dtype = dtype_j.get<std::string>();
    std::size_t elem = dtype_size(info.dtype);
    if (elem == 0) throw bad("has unsupported dtype " + info.dtype);
    std::uint64_t count = 1;
    for (const auto& d : shape_j) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > (1ULL << 31)) throw bad("has an invalid shape");
      std::uint64_t dim = d.get<std::uint64_t>();
      if (dim != 0 && count > (1ULL << 40) / dim) throw bad("is too large");
      count *= dim;
      info.shape.push_back(static_cast<int>(dim));
    }
    if (!offsets_j[0].is_number_unsigned() || !offsets_j[1].is_number_unsigned())
      throw bad("has invalid data offsets");
    const auto begin = offsets_j[0].get<std::uint64_t>();
    const auto end = offsets_j[1].get<std::uint64_t>();
    if (begin > end || end > data_size)
      throw bad("lies beyond the end of the file (the file is truncated)");
    if (end - begin != count * elem) throw bad("has a byte size that does not match its shape and dtype");
    info.offset = 8 + header_len + begin;
    info.nbytes = end - begin;
    ranges.emplace_back(begin, end);
    out.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw file_error(file, "has overlapping tensors");
  return out;
}

std::vector<fs::path> weight_files(const fs::path& model_dir) {
  std::vector<fs::path> files;
  const auto index_path = model_dir / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    json j;
    try {
      j = json::parse(in);
    } catch (const json::parse_error&) {
      throw Error("model.safetensors.index.json is not valid JSON");
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error("model.safetensors.index.json has no weight_map");
    std::set<std::string> shards;
    for (const auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) throw Error("model.safetensors.index.json: bad entry for " + name);
      const auto shard_name = shard.get<std::string>();
      // A shard is a plain file name inside the model directory, never a path.
      if (shard_name.find('/') != std::string::npos || shard_name.find('\\') != std::string::npos ||
          shard_name == ".." || shard_name == ".")
        throw Error("model.safetensors.index.json names an invalid shard '" + shard_name + "'");
      shards.insert(shard_name);
    }
    for (const auto& s : shards) {
      if (!fs::exists(model_dir / s)) throw Error("weight shard " + s + " is missing from " + model_dir.string());
      files.push_back(model_dir / s);
    }
  } else {
    for (const auto& entry : fs::directory_iterator(model_dir))
      if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw Error("model directory " + model_dir.string() + " has no .safetensors weights");
  return files;
}

std::unordered_map<std::string, WeightEntry> load_weights(const fs::path& model_dir) {
  std::unordered_map<std::string, WeightEntry> weights;
  for (const auto& file : weight_files(model_dir)) {
    auto infos = read_safetensors_header(file);  // throws on anything MLX should not be handed
    auto [arrays, metadata] = mlx::core::load_safetensors(file.string());
    for (auto& [name, arr] : arrays) {
      if (weights.count(name)) throw Error("tensor '" + name + "' appears in more than one weight file");
      auto info = infos.find(name);
      if (info == infos.end()) throw file_error(file, "tensor '" + name + "' is not in its header");
      weights.emplace(name, WeightEntry{std::move(arr), file, std::move(info->second)});
    }
  }
  return weights;
}

}  // namespace pensieve::model
