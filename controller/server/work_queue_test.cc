// work_queue_test.cc - per-key serialisation, coalescing, back-off, bounded concurrency and
// delayed re-queueing of the reconciler's work queue.
#include "controller/server/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>

namespace hal::controller {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueue, KeyIsNeverProcessedConcurrently) {
  std::mutex mutex;
  std::map<std::string, int> active;
  std::atomic<int> overlaps{0};
  std::atomic<int> runs{0};
  WorkQueue queue(WorkQueueOptions{8, 10ms, 1s}, [&](const std::string &key) {
    {
      std::lock_guard lock(mutex);
      if (++active[key] > 1) ++overlaps;
    }
    std::this_thread::sleep_for(2ms);
    {
      std::lock_guard lock(mutex);
      --active[key];
    }
    ++runs;
    return WorkResult::done();
  });
  queue.start();
  for (int i = 0; i < 200; ++i) queue.add("key" + std::to_string(i % 3));
  ASSERT_TRUE(queue.wait_idle(10s));
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GE(runs.load(), 3);
}

TEST(WorkQueue, ReAddWhileProcessingCoalescesIntoOneMoreRun) {
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  WorkQueue queue(WorkQueueOptions{4, 10ms, 1s}, [&](const std::string &) {
    if (runs.fetch_add(1) == 0) {
      while (!release) std::this_thread::sleep_for(1ms);
    }
    return WorkResult::done();
  });
  queue.start();
  queue.add("a");
  while (runs.load() == 0) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 10; ++i) queue.add("a");  // While the first run is in progress.
  release = true;
  ASSERT_TRUE(queue.wait_idle(5s, 2s));
  EXPECT_EQ(runs.load(), 2);
}

TEST(WorkQueue, BoundedConcurrency) {
  std::atomic<int> current{0};
  std::atomic<int> peak{0};
  WorkQueue queue(WorkQueueOptions{3, 10ms, 1s}, [&](const std::string &) {
    int now = ++current;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(5ms);
    --current;
    return WorkResult::done();
  });
  queue.start();
  for (int i = 0; i < 30; ++i) queue.add("k" + std::to_string(i));
  ASSERT_TRUE(queue.wait_idle(10s));
  EXPECT_EQ(peak.load(), 3);
}

TEST(WorkQueue, BackoffDelaysGrowExponentiallyWithCap) {
  WorkQueueOptions options{1, 100ms, 1000ms};
  EXPECT_EQ(WorkQueue::backoff_delay(options, 1), 100ms);
  EXPECT_EQ(WorkQueue::backoff_delay(options, 2), 200ms);
  EXPECT_EQ(WorkQueue::backoff_delay(options, 3), 400ms);
  EXPECT_EQ(WorkQueue::backoff_delay(options, 4), 800ms);
  EXPECT_EQ(WorkQueue::backoff_delay(options, 5), 1000ms);
  EXPECT_EQ(WorkQueue::backoff_delay(options, 50), 1000ms);
}

TEST(WorkQueue, RetryBacksOffAndSuccessResets) {
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> times;
  std::mutex mutex;
  WorkQueue *self = nullptr;
  std::atomic<unsigned> failures_at_success{99};
  WorkQueue queue(WorkQueueOptions{2, 20ms, 1s}, [&](const std::string &key) {
    std::lock_guard lock(mutex);
    times.push_back(Clock::now());
    if (times.size() < 4) return WorkResult::retry();
    failures_at_success = self->failures(key);
    return WorkResult::done();
  });
  self = &queue;
  queue.start();
  queue.add("flaky");
  auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mutex);
      if (times.size() >= 4) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(queue.wait_idle(5s, 2s));
  std::lock_guard lock(mutex);
  ASSERT_EQ(times.size(), 4u);
  // Gaps of about 20, 40, 80 ms.
  EXPECT_GE(times[1] - times[0], 18ms);
  EXPECT_GE(times[2] - times[1], 38ms);
  EXPECT_GE(times[3] - times[2], 78ms);
  EXPECT_EQ(failures_at_success.load(), 3u);
  EXPECT_EQ(queue.failures("flaky"), 0u);  // Reset on success.
}

TEST(WorkQueue, AddAfterDelaysAndEarlierDeadlineWins) {
  using Clock = std::chrono::steady_clock;
  std::atomic<int> runs{0};
  Clock::time_point ran;
  WorkQueue queue(WorkQueueOptions{1, 10ms, 1s}, [&](const std::string &) {
    ran = Clock::now();
    ++runs;
    return WorkResult::done();
  });
  queue.start();
  auto start = Clock::now();
  queue.add_after("k", 500ms);
  queue.add_after("k", 60ms);   // Earlier deadline replaces the later one.
  queue.add_after("k", 400ms);  // Later one is ignored.
  ASSERT_TRUE(queue.wait_idle(5s, 2s));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_GE(ran - start, 55ms);
  EXPECT_LT(ran - start, 400ms);
}

TEST(WorkQueue, RequeueAfterFromHandler) {
  std::atomic<int> runs{0};
  WorkQueue queue(WorkQueueOptions{1, 10ms, 1s}, [&](const std::string &) {
    return ++runs < 3 ? WorkResult::after(10ms) : WorkResult::done();
  });
  queue.start();
  queue.add("poll");
  ASSERT_TRUE(queue.wait_idle(5s, 2s));
  EXPECT_EQ(runs.load(), 3);
}

TEST(WorkQueue, ExceptionCountsAsRetry) {
  std::atomic<int> runs{0};
  WorkQueue queue(WorkQueueOptions{1, 5ms, 1s}, [&](const std::string &) -> WorkResult {
    if (++runs == 1) throw std::runtime_error("boom");
    return WorkResult::done();
  });
  queue.start();
  queue.add("x");
  ASSERT_TRUE(queue.wait_idle(5s, 2s));
  EXPECT_EQ(runs.load(), 2);
}

TEST(WorkQueue, StopJoinsWorkers) {
  WorkQueue queue(WorkQueueOptions{2, 10ms, 1s}, [](const std::string &) {
    std::this_thread::sleep_for(5ms);
    return WorkResult::after(1ms);
  });
  queue.start();
  queue.add("a");
  std::this_thread::sleep_for(30ms);
  queue.stop();
  SUCCEED();
}

}  // namespace
}  // namespace hal::controller
