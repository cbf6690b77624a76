#include "kernels/embedding_primitive.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include <mlx/backend/cpu/encoder.h>

#include "common/error.h"
#include "kernels/qmm_cpu.h"
#include "kernels/strided_input.h"

namespace pensieve::kernels {

namespace {

using half = mx::float16_t;

// Element (row, column) of a tiled16 array with `columns` columns: 16-row tiles, each stored
// column by column.
std::size_t tiled_at(std::int64_t row, std::int64_t column, std::int64_t columns) {
  return static_cast<std::size_t>((row / kTileRows) * columns * kTileRows + column * kTileRows + row % kTileRows);
}

struct EmbedTask {
  const std::int32_t* ids;  // dense
  std::size_t count;
  const std::uint32_t* w;
  const half* scales;
  const half* biases;
  std::int64_t rows, words, groups, K;
  int bits, group_size;
  float* out;
};

void embed(const EmbedTask& t) {
  const int per_word = 32 / t.bits;
  const std::uint32_t mask = (1u << t.bits) - 1u;
  for (std::size_t n = 0; n < t.count; ++n) {
    std::int64_t row = t.ids[n];
    if (row < 0 || row >= t.rows) row = 0;  // as the CUDA decoder's embed: never a read past the table
    float* out = t.out + n * static_cast<std::size_t>(t.K);
    for (std::int64_t i = 0; i < t.K; ++i) {
      const std::uint32_t word = t.w[tiled_at(row, i / per_word, t.words)];
      const auto q = static_cast<float>((word >> (t.bits * (i % per_word))) & mask);
      const std::size_t g = tiled_at(row, i / t.group_size, t.groups);
      // As MLX's float16 ops: each result rounded to float16.
      const half scaled = static_cast<half>(q * static_cast<float>(t.scales[g]));
      out[i] = static_cast<float>(static_cast<half>(static_cast<float>(scaled) + static_cast<float>(t.biases[g])));
    }
  }
}

}  // namespace

void CpuEmbedRows::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const mx::array &ids = inputs[0], &w = inputs[1], &scales = inputs[2], &biases = inputs[3];
  if (ids.dtype() != mx::int32 || w.dtype() != mx::uint32 || scales.dtype() != mx::float16 ||
      biases.dtype() != mx::float16 || w.ndim() != 2 || scales.shape() != biases.shape() ||
      scales.shape(0) != w.shape(0) || w.shape(0) % kTileRows != 0)
    throw Error("PensieveCpuEmbedRows: int32 ids, a uint32 tiled16 table and float16 scales and biases");
  for (int i = 1; i < 4; ++i)
    if (!inputs[static_cast<std::size_t>(i)].flags().row_contiguous)
      throw Error("PensieveCpuEmbedRows: the table must be contiguous");
  out.set_data(mx::allocator::malloc(out.nbytes()));
  EmbedTask t{nullptr, ids.size(), w.data<std::uint32_t>(), scales.data<half>(),
              biases.data<half>(), w.shape(0), w.shape(1), scales.shape(1),
              static_cast<std::int64_t>(w.shape(1)) * 32 / bits_, bits_, group_size_, out.data<float>()};
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  encoder.dispatch([t, ids = mx::array::unsafe_weak_copy(ids)]() mutable {
    std::vector<std::byte> storage;  // ids may be a view
    t.ids = static_cast<const std::int32_t*>(dense_data(ids, storage));
    embed(t);
  });
}

void CpuEmbedRows::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw Error("PensieveCpuEmbedRows runs on the CPU only");
}

bool CpuEmbedRows::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const CpuEmbedRows&>(other);
  return bits_ == o.bits_ && group_size_ == o.group_size_;
}

std::vector<mx::Shape> CpuEmbedRows::output_shapes(const std::vector<mx::array>& inputs) {
  auto shape = inputs[0].shape();
  shape.push_back(inputs[1].shape(1) * 32 / bits_);
  return {shape};
}

}  // namespace pensieve::kernels
