// work_queue.cc - per-key serialised work queue with back-off and delays.
#include "controller/server/work_queue.h"

#include "core/log/log.h"

namespace hal::controller {

WorkQueue::WorkQueue(WorkQueueOptions options, Handler handler)
    : options_(options), handler_(std::move(handler)) {
  if (options_.workers == 0) options_.workers = 1;
}

WorkQueue::~WorkQueue() {
  stop();
}

void WorkQueue::start() {
  std::lock_guard lock(mutex_);
  if (!threads_.empty()) return;
  stopping_ = false;
  for (unsigned i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker(); });
}

void WorkQueue::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto &thread : threads) thread.join();
}

std::chrono::milliseconds WorkQueue::backoff_delay(const WorkQueueOptions &options,
                                                   unsigned failures) {
  if (failures == 0) return std::chrono::milliseconds(0);
  auto delay = options.backoff_base;
  for (unsigned i = 1; i < failures && delay < options.backoff_max; ++i) delay *= 2;
  return std::min(delay, options.backoff_max);
}

void WorkQueue::enqueue_locked(const std::string &key) {
  if (processing_.count(key) != 0) {
    dirty_.insert(key);
    return;
  }
  if (queued_.insert(key).second) {
    ready_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::add(const std::string &key) {
  std::lock_guard lock(mutex_);
  enqueue_locked(key);
}

void WorkQueue::add_after(const std::string &key, std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  add_after_locked(key, delay);
}

void WorkQueue::add_after_locked(const std::string &key, std::chrono::milliseconds delay) {
  if (delay <= std::chrono::milliseconds(0)) return enqueue_locked(key);
  auto deadline = Clock::now() + delay;
  auto it = delayed_.find(key);
  if (it != delayed_.end()) {
    if (it->second <= deadline) return;
    auto range = deadlines_.equal_range(it->second);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == key) {
        deadlines_.erase(d);
        break;
      }
    }
    it->second = deadline;
  } else {
    delayed_.emplace(key, deadline);
  }
  deadlines_.emplace(deadline, key);
  cv_.notify_all();  // A worker may need to wait for an earlier deadline.
}

std::chrono::milliseconds WorkQueue::add_rate_limited(const std::string &key) {
  unsigned count;
  {
    std::lock_guard lock(mutex_);
    count = ++failures_[key];
  }
  auto delay = backoff_delay(options_, count);
  add_after(key, delay);
  return delay;
}

void WorkQueue::forget(const std::string &key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

unsigned WorkQueue::failures(const std::string &key) const {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

size_t WorkQueue::size() const {
  std::lock_guard lock(mutex_);
  return ready_.size() + delayed_.size() + processing_.size();
}

bool WorkQueue::wait_idle(std::chrono::milliseconds timeout, std::chrono::milliseconds horizon) {
  std::unique_lock lock(mutex_);
  auto until = Clock::now() + timeout;
  auto idle = [&] {
    if (!ready_.empty() || !processing_.empty()) return false;
    return deadlines_.empty() || deadlines_.begin()->first > Clock::now() + horizon;
  };
  while (!idle()) {
    if (idle_cv_.wait_until(lock, std::min(until, Clock::now() + std::chrono::milliseconds(20))) ==
            std::cv_status::timeout &&
        Clock::now() >= until) {
      return idle();
    }
  }
  return true;
}

void WorkQueue::promote_due_locked(Clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    std::string key = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    delayed_.erase(key);
    enqueue_locked(key);
  }
}

void WorkQueue::worker() {
  std::unique_lock lock(mutex_);
  while (true) {
    promote_due_locked(Clock::now());
    if (stopping_) return;
    if (ready_.empty()) {
      if (deadlines_.empty()) {
        cv_.wait(lock);
      } else {
        // A copy: the map node may be erased by another worker while this one waits.
        const Clock::time_point due = deadlines_.begin()->first;
        cv_.wait_until(lock, due);
      }
      continue;
    }
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    queued_.erase(key);
    processing_.insert(key);
    lock.unlock();
    WorkResult result;
    try {
      result = handler_(key);
    } catch (const std::exception &e) {
      hal::log("queue")->warn("{}: {}", key, e.what());
      result = WorkResult::retry();
    }
    lock.lock();
    processing_.erase(key);
    if (dirty_.erase(key) != 0) enqueue_locked(key);
    if (result.kind == WorkResult::Kind::kRetry) {
      add_after_locked(key, backoff_delay(options_, ++failures_[key]));
    } else {
      failures_.erase(key);
      if (result.requeue) add_after_locked(key, *result.requeue);
    }
    idle_cv_.notify_all();
  }
}

}  // namespace hal::controller
