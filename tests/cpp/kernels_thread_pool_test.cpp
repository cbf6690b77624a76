// The kernels' thread pool runs every task exactly once per call, across repeated calls.
#include <gtest/gtest.h>

#include <atomic>
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
