#include "hub/blob_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/error.h"

namespace pensieve::hub {

BlobLock::BlobLock(const std::filesystem::path& lock_file, const std::function<bool()>& should_stop,
                   const std::function<void()>& on_wait) {
  std::filesystem::create_directories(lock_file.parent_path());
  // 0664 like huggingface_hub, so users sharing a cache can wait on each other's locks. The file
  // is never deleted: waiters must all lock the same inode.
  fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
  if (fd_ < 0) throw Error("cannot open lock file " + lock_file.string() + ": " + std::strerror(errno));
  bool waited = false;
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int e = errno;
      ::close(fd_);
      throw Error("cannot lock " + lock_file.string() + ": " + std::strerror(e));
    }
    if (!waited && on_wait) on_wait();
    waited = true;
    if (should_stop && should_stop()) {
      ::close(fd_);
      throw Error("interrupted while waiting for " + lock_file.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

BlobLock::~BlobLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace pensieve::hub
