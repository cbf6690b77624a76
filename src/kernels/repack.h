#pragma once
// Writing the CPU kernels' tiled16 layout (qmm_cpu.h) straight from a weight file's bytes: one
// multithreaded pass, no intermediate MLX arrays, so a load holds each weight once. The result is
// bit-identical to to_tiled16 (cpu_layout.h) of the same rows.
#include <cstddef>
#include <functional>
#include <optional>

#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// src: `rows` rows of `cols` elements of `elem_size` bytes (1, 2, 4 or 8), row-major. dst (same
// byte size, not overlapping src): each 16 rows transposed, [rows/16, cols, 16]. rows % 16 == 0.
// Runs on ThreadPool::global().
void repack_tiled16(const void* src, void* dst, int rows, int cols, std::size_t elem_size);

// Fills `into` with `bytes` bytes of a row-major source starting `offset` bytes in; false if it
// cannot. Called from several threads at once, for disjoint ranges.
using SourceReader = std::function<bool(std::size_t offset, std::size_t bytes, void* into)>;

// A new evaluated [rows, cols] array of `dtype` in the tiled16 layout, of the row-major source
// that `read` gives, or nullopt if a read failed. Its memory comes from MLX's allocator, so MLX's
// memory figures count it, is never zero-filled first, and is on huge pages where the OS gives
// them (kernels/huge_pages.h). Each thread reads its share of rows
// into a small buffer of its own, reused from task to task, so a load never holds more of the
// source than that.
std::optional<mx::array> tiled16_array(const SourceReader& read, int rows, int cols, mx::Dtype dtype);

}  // namespace pensieve::kernels
