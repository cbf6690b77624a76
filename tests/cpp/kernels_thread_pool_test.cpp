// The kernels' thread pool runs every task exactly once per call, across repeated calls.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/thread_pool.h"

namespace k = pensieve::kernels;

TEST(KernelsThreadPool, RunsEveryTaskOnce) {
  k::ThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  for (int count : {0, 1, 2, 7, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
    for (int round = 0; round < 20; ++round) {
      pool.run(count, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
    }
    for (int i = 0; i < count; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 20) << i;
  }
}

TEST(KernelsThreadPool, SingleThreadRunsInline) {
  k::ThreadPool pool(1);
  int sum = 0;  // no other thread touches it
  pool.run(10, [&](int64_t i) { sum += static_cast<int>(i); });
  EXPECT_EQ(sum, 45);
}

// Workers either spin between calls or sleep after a pause: both ways every call must be
// joined, including calls made right after a worker fell asleep.
TEST(KernelsThreadPool, CallsAfterWorkersFellAsleep) {
  k::ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 2 ? 5 : 0));
    pool.run(64, [&](int64_t i) { sum += i; });
  }
  EXPECT_EQ(sum.load(), 5 * (63 * 64 / 2));
}

// run() from several threads at once is serialised, and each call sees only its own tasks.
TEST(KernelsThreadPool, ConcurrentCallersEachGetTheirOwnTasks) {
  k::ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 200; ++round) {
        std::vector<int> hits(static_cast<size_t>(17 + c), 0);
        pool.run(static_cast<int64_t>(hits.size()), [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
        for (int h : hits) wrong += h != 1;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Destroying a pool whose workers are spinning or asleep returns (no hang, no stray task).
TEST(KernelsThreadPool, DestroysWhileWorkersIdle) {
  for (int pause_ms : {0, 2}) {
    k::ThreadPool pool(4);
    pool.run(8, [](int64_t) {});
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  SUCCEED();
}
