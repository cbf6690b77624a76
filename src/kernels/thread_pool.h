#pragma once
// A small persistent pool for the CPU kernels. A matmul call splits into independent tasks that
// the calling thread and the workers take from a shared counter, so a worker slowed by another
// process on the machine simply takes fewer tasks.
//
// A decode step makes a few hundred short calls with small gaps between them (the other ops of
// the step). Waking a sleeping thread costs a futex call on each side and tens of microseconds
// of scheduling latency in a VM, so workers spin for a short while after each call before they
// sleep, and the caller spins while the last tasks finish.
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
  // Spins until a call newer than `seen` is published or the spin budget runs out.
  bool spin_for_call(uint64_t seen) const;
  void take_tasks(const std::function<void(int64_t)>& task, int64_t count);

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one run() at a time
  std::mutex mutex_;       // guards task_, count_, sleeping_, stop_ and joining a call
  std::condition_variable wake_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> generation_{0};  // written under mutex_, read by spinning workers
  std::atomic<int> busy_{0};             // workers inside the current call
  int sleeping_ = 0;
  bool stop_ = false;
};

}  // namespace pensieve::kernels
