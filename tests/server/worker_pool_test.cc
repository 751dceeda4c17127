#include "server/worker_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/gauge.h"

namespace squant::server {
namespace {

TEST(WorkerPoolTest, RunsEveryTaskIncludingResubmittedOnesBeforeJoining) {
  std::atomic<int> runs{0};
  prometheus::Gauge busy;
  {
    WorkerPool pool(3, &busy);
    EXPECT_EQ(pool.size(), 3);
    for (int i = 0; i < 100; ++i) {
      pool.Submit([&pool, &runs] {
        runs.fetch_add(1);
        // A task may enqueue follow-up work, as layer jobs do.
        pool.Submit([&runs] { runs.fetch_add(1); });
      });
    }
  }
  EXPECT_EQ(runs.load(), 200);
  EXPECT_EQ(busy.Value(), 0);
}

TEST(WorkerPoolTest, TasksRunConcurrently) {
  std::atomic<int> arrived{0};
  std::atomic<int> saw_other{0};
  {
    WorkerPool pool(2, nullptr);
    for (int i = 0; i < 2; ++i) {
      pool.Submit([&] {
        arrived.fetch_add(1);
        // Each waits (bounded) for the other: with one thread they could
        // not both see two arrivals.
        for (int spin = 0; spin < 50000000 && arrived.load() < 2; ++spin) {
          std::this_thread::yield();
        }
        if (arrived.load() == 2) saw_other.fetch_add(1);
      });
    }
  }
  EXPECT_EQ(saw_other.load(), 2);
}

}  // namespace
}  // namespace squant::server
