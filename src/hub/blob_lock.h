#pragma once
// The lock huggingface_hub takes around writing one blob (filelock = flock(2) on
// <cache>/.locks/models--org--name/<etag>.lock): taking the same one means Pensieve processes and
// huggingface_hub never write the same blob at once.
#include <filesystem>
#include <functional>

namespace pensieve::hub {

class BlobLock {
 public:
  // Blocks until the lock is held, polling `should_stop` (throws pensieve::Error if it says
  // stop) and calling `on_wait` once if someone else holds it.
  BlobLock(const std::filesystem::path& lock_file, const std::function<bool()>& should_stop,
           const std::function<void()>& on_wait);
  ~BlobLock();
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace pensieve::hub
