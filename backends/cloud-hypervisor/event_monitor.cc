// event_monitor.cc - the event-monitor file follower (see event_monitor.h).
#include "backends/cloud-hypervisor/event_monitor.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

namespace hal::cloud_hypervisor {

EventMonitorReader::EventMonitorReader(std::filesystem::path path, uint64_t offset,
                                       std::function<void(const ChEvent &)> on_event)
    : path_(std::move(path)), on_event_(std::move(on_event)) {
  thread_ = std::thread([this, offset] { run(offset); });
}

EventMonitorReader::~EventMonitorReader() {
  stop_ = true;
  thread_.join();
}

void EventMonitorReader::run(uint64_t offset) {
  EventStreamParser parser;
  int fd = -1;
  char buffer[8192];
  while (!stop_) {
    if (fd < 0) {
      fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0 && offset > 0) ::lseek(fd, static_cast<off_t>(offset), SEEK_SET);
    }
    ssize_t n = fd >= 0 ? ::read(fd, buffer, sizeof buffer) : 0;
    if (n > 0) {
      for (const ChEvent &event : parser.feed(std::string_view(buffer, static_cast<size_t>(n)))) {
        on_event_(event);
      }
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (fd >= 0) ::close(fd);
}

}  // namespace hal::cloud_hypervisor
