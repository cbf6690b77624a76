#include "kernels/thread_pool.h"

#include <chrono>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace pensieve::kernels {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Long enough to bridge the gaps between the matmuls of one decode step, short enough that an
// idle server's workers are soon asleep.
constexpr auto kSpin = std::chrono::microseconds(300);

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::take_tasks(const std::function<void(int64_t)>& task, int64_t count) {
  for (int64_t i = next_.fetch_add(1); i < count; i = next_.fetch_add(1)) task(i);
}

bool ThreadPool::spin_for_call(uint64_t seen) const {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (generation_.load(std::memory_order_acquire) != seen) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t)>* task = nullptr;
    int64_t count = 0;
    const bool published = spin_for_call(seen);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!published) {
        ++sleeping_;
        wake_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
        --sleeping_;
      }
      if (stop_) return;
      seen = generation_.load();
      if (task_ == nullptr) continue;  // that call has already finished
      // Joining under the mutex: run() clears task_ under it once busy_ is zero, so a worker
      // either joins before that (and is waited for) or sees no task.
      task = task_;
      count = count_;
      busy_.fetch_add(1);
    }
    take_tasks(*task, count);
    busy_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::run(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  if (workers_.empty() || count == 1) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mutex_);
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_.store(0);
    generation_.fetch_add(1, std::memory_order_release);
    notify = sleeping_ > 0;
  }
  if (notify) wake_.notify_all();
  take_tasks(task, count);
  // Wait for every worker that joined this call, so that `task` outlives every use of it. The
  // joined workers are running their last task: spin, yielding if one was descheduled.
  for (int i = 0;; ++i) {
    if (busy_.load(std::memory_order_acquire) == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (busy_.load() == 0) {
        task_ = nullptr;
        return;
      }
    }
    if (i < 4096) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool([] {
    if (const char* env = std::getenv("PENSIEVE_THREADS")) {
      int n = std::atoi(env);
      if (n > 0) return n;
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
  }());
  return pool;
}

}  // namespace pensieve::kernels
