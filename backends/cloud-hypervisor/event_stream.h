// event_stream.h - Cloud Hypervisor's event-monitor stream: a sequence of pretty-printed JSON
// objects {"timestamp":{"secs","nanos"},"source","event","properties"} written one after the
// other to the --event-monitor file. The parser is incremental (bytes arrive as the file grows)
// and tolerant of garbage between objects; the formatter is what the emulator writes.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_STREAM_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_STREAM_H

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hal::cloud_hypervisor {

/** One event of the monitor stream. */
struct ChEvent {
  /** Time since the VMM started, in nanoseconds. */
  uint64_t since_start_ns = 0;
  /** Emitting component: "vmm", "vm", "cpu_manager", ... */
  std::string source;
  /** What happened: "booted", "paused", "migration-started", ... */
  std::string event;
  /** Optional string properties ("id" of a device, ...). */
  std::map<std::string, std::string> properties;
};

/** Splits a growing byte stream into ChEvents. Not thread-safe. */
class EventStreamParser {
 public:
  /** Feeds more bytes; answers the events completed by them. Objects that are not events
   *  (wrong shape) are skipped and counted in skipped(). */
  std::vector<ChEvent> feed(std::string_view bytes);
  /** Objects skipped so far because they were malformed. */
  uint64_t skipped() const { return skipped_; }

 private:
  std::string pending_;
  size_t scan_ = 0;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  uint64_t skipped_ = 0;
};

/** The JSON text of one event, pretty-printed like Cloud Hypervisor's monitor, plus "\n". */
std::string format_event(const ChEvent &event);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EVENT_STREAM_H
