// work_queue.h - the reconciler's work queue: string keys processed by a bounded pool of
// workers, a key never processed by two workers at once (re-adds while it is being processed
// coalesce into one more run afterwards), exponential back-off per key with a cap (reset on
// success) and delayed re-queueing.
#ifndef HAL_CONTROLLER_SERVER_WORK_QUEUE_H
#define HAL_CONTROLLER_SERVER_WORK_QUEUE_H

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hal::controller {

/** What a handler run asks the queue to do with its key. */
struct WorkResult {
  /** Kind of outcome. */
  enum class Kind {
    kDone,   ///< Success: forget the key's back-off.
    kRetry,  ///< Failure: re-queue after the key's next back-off delay.
  };
  Kind kind = Kind::kDone;                           ///< The outcome.
  std::optional<std::chrono::milliseconds> requeue;  ///< kDone: run again after this delay.

  /** Success, nothing more to do. */
  static WorkResult done() { return {}; }
  /** Success; run again after `delay` (polling, timers). */
  static WorkResult after(std::chrono::milliseconds delay) { return {Kind::kDone, delay}; }
  /** Failure; retry with back-off. */
  static WorkResult retry() { return {Kind::kRetry, std::nullopt}; }
};

/** Work queue options. */
struct WorkQueueOptions {
  unsigned workers = 4;                                             ///< Concurrent handler runs.
  std::chrono::milliseconds backoff_base{100};                      ///< First retry delay.
  std::chrono::milliseconds backoff_max{std::chrono::seconds(60)};  ///< Retry delay cap.
};

/** The queue. Thread-safe; handlers may add keys (including their own). */
class WorkQueue {
 public:
  /** Handler run for one key on a worker thread; exceptions count as kRetry. */
  using Handler = std::function<WorkResult(const std::string &key)>;

  /** A stopped queue; call start() to run workers. */
  WorkQueue(WorkQueueOptions options, Handler handler);
  ~WorkQueue();
  WorkQueue(const WorkQueue &) = delete;
  WorkQueue &operator=(const WorkQueue &) = delete;

  /** Starts the worker threads. */
  void start();
  /** Stops accepting work, waits for running handlers and joins the workers. */
  void stop();

  /** Queues `key` now (no-op if it is already queued; if it is being processed it runs once
   *  more afterwards). */
  void add(const std::string &key);
  /** Queues `key` after `delay` (an earlier pending deadline wins). */
  void add_after(const std::string &key, std::chrono::milliseconds delay);
  /** Queues `key` after its next back-off delay and returns that delay. */
  std::chrono::milliseconds add_rate_limited(const std::string &key);
  /** Resets the back-off of `key`. */
  void forget(const std::string &key);
  /** Number of failures counted for `key` since its last success. */
  unsigned failures(const std::string &key) const;

  /** Keys ready or waiting for a deadline, plus keys being processed. */
  size_t size() const;
  /** Blocks until nothing is queued, delayed (within `horizon`) or processing, or `timeout`
   *  passes; returns true when idle. For tests and benchmarks. */
  bool wait_idle(std::chrono::milliseconds timeout,
                 std::chrono::milliseconds horizon = std::chrono::milliseconds(0));

  /** The back-off delay after `failures` consecutive failures (1 = first). */
  static std::chrono::milliseconds backoff_delay(const WorkQueueOptions &options,
                                                 unsigned failures);

 private:
  using Clock = std::chrono::steady_clock;
  void worker();
  void enqueue_locked(const std::string &key);
  void add_after_locked(const std::string &key, std::chrono::milliseconds delay);
  void promote_due_locked(Clock::time_point now);

  WorkQueueOptions options_;
  Handler handler_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::string> ready_;
  std::set<std::string> queued_;                      ///< Keys in ready_.
  std::set<std::string> processing_;                  ///< Keys a worker is running.
  std::set<std::string> dirty_;                       ///< Re-added while processing.
  std::map<std::string, Clock::time_point> delayed_;  ///< Key -> earliest deadline.
  std::multimap<Clock::time_point, std::string> deadlines_;
  std::map<std::string, unsigned> failures_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_WORK_QUEUE_H
