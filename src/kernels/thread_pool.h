#pragma once
// A small persistent pool for the CPU kernels. A matmul call splits into independent tasks that
// the calling thread and the workers take from a shared counter, so a worker slowed by another
// process on the machine simply takes fewer tasks. Workers sleep between calls.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pensieve::kernels {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for every i in [0, count) across the pool and the caller; returns when all are
  // done. Calls from several threads are serialised.
  void run(int64_t count, const std::function<void(int64_t)>& task);

  // The process-wide pool: PENSIEVE_THREADS threads if set, else one per hardware thread.
  static ThreadPool& global();

 private:
  void worker_loop();
  void take_tasks(const std::function<void(int64_t)>& task, int64_t count);

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one run() at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

}  // namespace pensieve::kernels
