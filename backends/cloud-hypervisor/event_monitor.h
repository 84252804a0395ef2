// event_monitor.h - follows a VMM's --event-monitor file as it grows and hands each event to a
// callback on its own thread.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_MONITOR_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_MONITOR_H

#include <atomic>
#include <filesystem>
#include <functional>
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

 private:
  void run(uint64_t offset);

  std::filesystem::path path_;
  std::function<void(const ChEvent &)> on_event_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_MONITOR_H
