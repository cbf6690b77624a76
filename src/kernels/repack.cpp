#include "kernels/repack.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "kernels/huge_pages.h"
#include "kernels/qmm_cpu.h"
#include "kernels/thread_pool.h"

namespace pensieve::kernels {

namespace {

// Bytes of source per pool task: large enough that scheduling costs nothing, small enough to
// stay in L2 and to give both threads of a small machine an even share of a 3 MB tensor.
constexpr std::size_t kTaskBytes = 256 << 10;

// Tiles [0, tiles) of `src` (which starts at a tile boundary) into `dst` (likewise). The source
// is read with memcpy since a file's tensor need not start at a multiple of its element size.
template <typename T>
void repack_tiles(const unsigned char* src, T* dst, int tiles, int cols) {
  const std::size_t row_bytes = static_cast<std::size_t>(cols) * sizeof(T);
  for (int t = 0; t < tiles; ++t) {
    const unsigned char* in = src + static_cast<std::size_t>(t) * kTileRows * row_bytes;
    T* out = dst + static_cast<std::size_t>(t) * kTileRows * cols;
    // The output is written in order; the 16 source rows advance together, one cache line each
    // at a time, so they stay in L1.
    for (int c = 0; c < cols; ++c) {
      T* o = out + static_cast<std::size_t>(c) * kTileRows;
      const unsigned char* column = in + static_cast<std::size_t>(c) * sizeof(T);
      for (int r = 0; r < kTileRows; ++r) std::memcpy(o + r, column + r * row_bytes, sizeof(T));
    }
  }
}

void repack_tiles_any(const unsigned char* src, void* dst, int tiles, int cols, std::size_t elem_size) {
  switch (elem_size) {
    case 1: return repack_tiles(src, static_cast<uint8_t*>(dst), tiles, cols);
    case 2: return repack_tiles(src, static_cast<uint16_t*>(dst), tiles, cols);
    case 4: return repack_tiles(src, static_cast<uint32_t*>(dst), tiles, cols);
    case 8: return repack_tiles(src, static_cast<uint64_t*>(dst), tiles, cols);
    default: throw std::invalid_argument("repack_tiled16: unsupported element size");
  }
}

// Splits the tiles into tasks of about kTaskBytes and runs task(first_tile, tiles) on the pool.
void for_each_tile_chunk(int rows, std::size_t tile_bytes, const std::function<void(int, int)>& task) {
  if (rows % kTileRows != 0) throw std::invalid_argument("repack_tiled16: rows must be a multiple of 16");
  const int tiles = rows / kTileRows;
  const int per_task =
      static_cast<int>(std::max<std::size_t>(1, kTaskBytes / std::max<std::size_t>(1, tile_bytes)));
  const int64_t tasks = (tiles + per_task - 1) / per_task;
  ThreadPool::global().run(tasks, [&](int64_t i) {
    const int first = static_cast<int>(i) * per_task;
    task(first, std::min(per_task, tiles - first));
  });
}

}  // namespace

void repack_tiled16(const void* src, void* dst, int rows, int cols, std::size_t elem_size) {
  if (elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8)
    throw std::invalid_argument("repack_tiled16: unsupported element size");
  const std::size_t tile_bytes = static_cast<std::size_t>(kTileRows) * cols * elem_size;
  for_each_tile_chunk(rows, tile_bytes, [&](int first, int tiles) {
    const std::size_t at = static_cast<std::size_t>(first) * tile_bytes;
    repack_tiles_any(static_cast<const unsigned char*>(src) + at, static_cast<unsigned char*>(dst) + at,
                     tiles, cols, elem_size);
  });
}

std::optional<mx::array> tiled16_array(const SourceReader& read, int rows, int cols, mx::Dtype dtype) {
  const std::size_t elem_size = mx::size_of(dtype);
  const std::size_t tile_bytes = static_cast<std::size_t>(kTileRows) * cols * elem_size;
  const std::size_t total = static_cast<std::size_t>(rows) * cols * elem_size;
  auto data = mx::allocator::malloc(total);
  auto* dst = static_cast<unsigned char*>(data.buffer().raw_ptr());
  advise_huge_pages(dst, total);  // decode streams it every step; not yet written
  std::atomic<bool> failed{false};
  for_each_tile_chunk(rows, tile_bytes, [&](int first, int tiles) {
    // One buffer per thread for the whole load: reused, so its pages are faulted in only once
    // (and never zero-filled: the read overwrites it).
    thread_local std::unique_ptr<unsigned char[]> chunk;
    thread_local std::size_t chunk_size = 0;
    const std::size_t at = static_cast<std::size_t>(first) * tile_bytes;
    const std::size_t bytes = static_cast<std::size_t>(tiles) * tile_bytes;
    if (chunk_size < bytes) {
      chunk.reset(new unsigned char[bytes]);
      chunk_size = bytes;
    }
    if (failed.load(std::memory_order_relaxed) || !read(at, bytes, chunk.get())) {
      failed = true;
      return;
    }
    repack_tiles_any(chunk.get(), dst + at, tiles, cols, elem_size);
  });
  if (failed) return std::nullopt;
  return mx::array(std::move(data), {rows, cols}, dtype);
}

}  // namespace pensieve::kernels
