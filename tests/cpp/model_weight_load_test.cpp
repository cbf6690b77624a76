// Loading a weight from its safetensors file straight into the tiled16 layout
// (model/weight_loader.h) gives the bytes of MLX's own load followed by to_tiled16, wherever the
// tensor lies in the file (including at offsets that are not a multiple of its element size), and
// a file cut short after its header was checked is an error, not a crash.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <mlx/mlx.h>

#include "common/error.h"
#include "kernels/cpu_layout.h"
#include "model/safetensors.h"
#include "model/weight_loader.h"
#include "mlx_test_support.h"

namespace mx = mlx::core;
namespace fs = std::filesystem;
namespace k = pensieve::kernels;
namespace m = pensieve::model;

namespace {

using pensieve::test::bytes_of;

struct Named {
  std::string name, dtype;
  mx::array array;
};

// Writes a safetensors file by hand: the header is padded to `header_len` bytes so that the
// data, and with odd tensor sizes each tensor after the first, may start at any offset.
void write_safetensors(const fs::path& file, const std::vector<Named>& tensors, std::size_t header_len) {
  std::ostringstream json;
  json << '{';
  std::size_t offset = 0;
  std::vector<unsigned char> data;
  for (const auto& t : tensors) {
    const auto b = bytes_of(t.array);
    if (offset) json << ',';
    json << '"' << t.name << "\":{\"dtype\":\"" << t.dtype << "\",\"shape\":[" << t.array.shape(0) << ','
         << t.array.shape(1) << "],\"data_offsets\":[" << offset << ',' << offset + b.size() << "]}";
    data.insert(data.end(), b.begin(), b.end());
    offset += b.size();
  }
  json << '}';
  std::string header = json.str();
  ASSERT_LE(header.size(), header_len);
  header.append(header_len - header.size(), ' ');
  std::ofstream out(file, std::ios::binary);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(header_len >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

class ModelWeightLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pensieve_weight_load_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ModelWeightLoad, TiledLoadMatchesMlxLoadThenRepack) {
  auto key = mx::random::key(900);
  auto w = mx::random::normal({64, 256}, mx::float32, 0.0f, 1.0f, key);
  auto q = mx::quantize(w, 64, 4, "affine");
  const std::vector<Named> tensors = {
      {"odd.weight", "U8", mx::random::randint(0, 255, {16, 3}, mx::uint8, key)},  // 48 bytes
      {"odd.extra", "U8", mx::random::randint(0, 255, {16, 1}, mx::uint8, key)},   // shifts the rest by 1
      {"proj.weight", "U32", q[0]},
      {"proj.scales", "F16", mx::astype(q[1], mx::float16)},
      {"proj.biases", "BF16", mx::astype(q[2], mx::bfloat16)},
  };
  for (std::size_t header_len : {std::size_t{1024}, std::size_t{1027}}) {
    SCOPED_TRACE("header of " + std::to_string(header_len) + " bytes");
    write_safetensors(dir_ / "model.safetensors", tensors, header_len);
    const auto entries = m::load_weights(dir_);
    ASSERT_EQ(entries.size(), tensors.size());
    auto [mlx_arrays, metadata] = mx::load_safetensors((dir_ / "model.safetensors").string());
    for (const auto& t : tensors) {
      SCOPED_TRACE(t.name);
      const auto tiled = m::load_tiled16(entries.at(t.name));
      EXPECT_EQ(tiled.shape(), t.array.shape());
      EXPECT_EQ(tiled.dtype(), mlx_arrays.at(t.name).dtype());
      EXPECT_EQ(bytes_of(tiled), bytes_of(k::to_tiled16(mlx_arrays.at(t.name))));
    }
  }
}

TEST_F(ModelWeightLoad, FileCutShortAfterItsHeaderWasCheckedIsAnError) {
  const auto file = dir_ / "model.safetensors";
  write_safetensors(file, {{"a.weight", "U32", mx::zeros({32, 8}, mx::uint32)}}, 128);
  const auto entries = m::load_weights(dir_);
  fs::resize_file(file, fs::file_size(file) - 4);
  EXPECT_THROW(m::load_tiled16(entries.at("a.weight")), pensieve::Error);
}

}  // namespace
