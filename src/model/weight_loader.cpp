#include "model/weight_loader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "kernels/repack.h"

namespace pensieve::model {

namespace {

// A file opened for reading, closed on destruction.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::filesystem::path& file) : fd_(::open(file.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw Error(file.filename().string() + ": cannot be opened");
  }
  ~ReadOnlyFile() { ::close(fd_); }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  // Reads exactly `bytes` at `offset`; false on an error or at the end of the file.
  bool read_at(std::uint64_t offset, std::size_t bytes, void* into) const {
    auto* out = static_cast<unsigned char*>(into);
    while (bytes > 0) {
      const ssize_t n = ::pread(fd_, out, bytes, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      out += n;
      offset += static_cast<std::uint64_t>(n);
      bytes -= static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_;
};

}  // namespace

mlx::core::array load_tiled16(const WeightEntry& entry) {
  const auto& a = entry.array;
  const ReadOnlyFile file(entry.file);
  // pread rather than mmap: mapping and unmapping each tensor's pages costs more than copying
  // them, and a mapping would count the file's pages in the process's memory while it lasts.
  auto tiled = kernels::tiled16_array(
      [&](std::size_t offset, std::size_t bytes, void* into) {
        return file.read_at(entry.info.offset + offset, bytes, into);
      },
      a.shape(0), a.shape(1), a.dtype());
  if (!tiled)
    throw Error(entry.file.filename().string() + ": tensor data cannot be read (was the file truncated?)");
  return *tiled;
}

}  // namespace pensieve::model
