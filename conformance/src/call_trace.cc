// call_trace.cc - plugin call trace files: writing (one write(2) per line, O_APPEND) and reading.
#include "call_trace.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

namespace hal::conformance {

CallTraceWriter::CallTraceWriter(const std::filesystem::path &path)
    : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
}

CallTraceWriter::~CallTraceWriter() {
  ::close(fd_);
}

void CallTraceWriter::call_started(std::string_view entry, uint64_t id) noexcept {
  char line[160];
  int n = std::snprintf(line, sizeof line, "B %llu %.*s\n", static_cast<unsigned long long>(id),
                        static_cast<int>(std::min<std::size_t>(entry.size(), 100)), entry.data());
  if (n > 0) (void)!::write(fd_, line, static_cast<std::size_t>(n));
}

void CallTraceWriter::call_ended(uint64_t id) noexcept {
  char line[40];
  int n = std::snprintf(line, sizeof line, "E %llu\n", static_cast<unsigned long long>(id));
  if (n > 0) (void)!::write(fd_, line, static_cast<std::size_t>(n));
}

void CallTraceReader::poll() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string added((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += added.size();
  partial_ += added;
  const auto now = std::chrono::steady_clock::now();
  std::size_t start = 0;
  for (std::size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1) {
    std::istringstream line(partial_.substr(start, end - start));
    char kind = 0;
    uint64_t id = 0;
    line >> kind >> id;
    if (kind == 'B') {
      std::string entry;
      line >> entry;
      calls_[id] = InFlightCall{entry, now};
    } else if (kind == 'E') {
      calls_.erase(id);
    }
  }
  partial_.erase(0, start);
}

std::optional<InFlightCall> CallTraceReader::oldest() const {
  std::optional<InFlightCall> oldest;
  for (const auto &[id, call] : calls_) {
    if (!oldest || call.since < oldest->since) oldest = call;
  }
  return oldest;
}

}  // namespace hal::conformance
