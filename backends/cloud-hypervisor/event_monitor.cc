// event_monitor.cc - the event-monitor file follower (see event_monitor.h).
#include "backends/cloud-hypervisor/event_monitor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hal::cloud_hypervisor {

EventMonitorReader::EventMonitorReader(std::filesystem::path path, uint64_t offset,
                                       std::function<void(const ChEvent &)> on_event)
    : path_(std::move(path)), on_event_(std::move(on_event)), consumed_(offset) {
  thread_ = std::thread([this, offset] { run(offset); });
}

EventMonitorReader::~EventMonitorReader() {
  stop_ = true;
  thread_.join();
}

bool EventMonitorReader::sync(std::chrono::milliseconds timeout) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return true;  // nothing written, nothing to wait for
  const uint64_t target = static_cast<uint64_t>(st.st_size);
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return consumed_ >= target || stop_; });
}

void EventMonitorReader::run(uint64_t offset) {
  EventStreamParser parser;
  int fd = -1;
  char buffer[8192];
  uint64_t position = offset;
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
      position += static_cast<uint64_t>(n);
      std::lock_guard<std::mutex> lock(mutex_);
      consumed_ = position;
      cv_.notify_all();
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (fd >= 0) ::close(fd);
  std::lock_guard<std::mutex> lock(mutex_);
  cv_.notify_all();
}

}  // namespace hal::cloud_hypervisor
