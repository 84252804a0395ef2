// event_monitor.h - follows a VMM's --event-monitor file as it grows and hands each event to a
// callback on its own thread; sync() lets a caller wait until everything the VMM wrote so far has
// been handed over (a VMM that exited may have written its last events just before).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_MONITOR_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_MONITOR_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "backends/cloud-hypervisor/event_stream.h"

namespace hal::cloud_hypervisor {

/** Tails one event-monitor file. Destroying it stops and joins the thread. */
class EventMonitorReader {
 public:
  /** Starts following `path` (which may not exist yet) from `offset` bytes; `on_event` runs on
   *  the reader thread. */
  EventMonitorReader(std::filesystem::path path, uint64_t offset,
                     std::function<void(const ChEvent &)> on_event);
  ~EventMonitorReader();
  EventMonitorReader(const EventMonitorReader &) = delete;
  EventMonitorReader &operator=(const EventMonitorReader &) = delete;

  /** Waits (up to `timeout`) until every byte the file holds now has been read and its events
   *  handed to the callback; false on timeout. Must not be called from the callback, nor while
   *  holding a lock the callback takes. */
  bool sync(std::chrono::milliseconds timeout);

 private:
  void run(uint64_t offset);

  std::filesystem::path path_;
  std::function<void(const ChEvent &)> on_event_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t consumed_ = 0;  // file offset up to which events were handed over (under mutex_)
  std::thread thread_;
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_MONITOR_H
