// console_watch.cc - a console connection read on its own thread (see console_watch.h).
#include "console_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <regex>

#include "guest.h"

namespace hal::conformance {
namespace {

ConsoleLine parse_line(std::string text) {
  static const std::regex heartbeat(
      R"(HAL-GUEST: heartbeat (\d+) boot_id=(\S+)(?: uptime_ms=(\d+))?)");
  static const std::regex ready(R"(HAL-GUEST: ready boot_id=(\S+))");
  static const std::regex other(R"(HAL-GUEST: (reboot|powerdown)\b)");
  ConsoleLine line;
  line.at = std::chrono::steady_clock::now();
  std::smatch m;
  if (std::regex_search(text, m, heartbeat)) {
    line.marker = "heartbeat";
    line.heartbeat = std::stoll(m[1]);
    line.boot_id = m[2];
    if (m[3].matched) line.guest_clock_ms = std::stoll(m[3]);
  } else if (std::regex_search(text, m, ready)) {
    line.marker = "ready";
    line.boot_id = m[1];
  } else if (std::regex_search(text, m, other)) {
    line.marker = m[1];
  }
  line.text = std::move(text);
  return line;
}

}  // namespace

std::unique_ptr<ConsoleWatch> ConsoleWatch::attach(const Vm &vm) {
  auto path = console_socket(vm);
  return path ? connect(*path) : nullptr;
}

std::unique_ptr<ConsoleWatch> ConsoleWatch::connect(const std::string &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    ::close(fd);
    return nullptr;
  }
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<ConsoleWatch>(new ConsoleWatch(fd));
}

ConsoleWatch::ConsoleWatch(int fd) : fd_(fd) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
  reader_ = std::thread([this] { read_loop(); });
}

ConsoleWatch::~ConsoleWatch() {
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  reader_.join();
  ::close(fd_);
  for (int f : wake_) {
    if (f >= 0) ::close(f);
  }
}

void ConsoleWatch::read_loop() {
  std::string buffer;
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, wake_[0] >= 0 ? 2 : 1, 100) < 0 && errno != EINTR) return;
    if (p[1].revents != 0) return;
    if (p[0].revents == 0) continue;
    char chunk[4096];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) return;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::string text = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (!text.empty() && text.back() == '\r') text.pop_back();
      ConsoleLine line = parse_line(std::move(text));
      std::lock_guard lock(mu_);
      lines_.push_back(std::move(line));
      cv_.notify_all();
    }
  }
}

std::optional<ConsoleLine> ConsoleWatch::wait_for(
    const std::function<bool(const ConsoleLine &)> &match, std::chrono::milliseconds timeout,
    size_t from) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (size_t i = from;; ++i) {
    if (!cv_.wait_until(lock, deadline, [&] { return i < lines_.size(); })) return std::nullopt;
    if (match(lines_[i])) return lines_[i];
  }
}

std::optional<ConsoleLine> ConsoleWatch::next_heartbeat(std::chrono::milliseconds timeout,
                                                        size_t from) {
  return wait_for([](const ConsoleLine &l) { return l.marker == "heartbeat"; }, timeout, from);
}

size_t ConsoleWatch::size() const {
  std::lock_guard lock(mu_);
  return lines_.size();
}

std::vector<ConsoleLine> ConsoleWatch::lines(size_t from) const {
  std::lock_guard lock(mu_);
  if (from >= lines_.size()) return {};
  return {lines_.begin() + static_cast<std::ptrdiff_t>(from), lines_.end()};
}

std::string ConsoleWatch::tail(size_t n) const {
  std::lock_guard lock(mu_);
  std::string out;
  for (size_t i = lines_.size() > n ? lines_.size() - n : 0; i < lines_.size(); ++i) {
    out += "\n  console: " + lines_[i].text;
  }
  return out.empty() ? " (the console printed nothing)" : out;
}

std::optional<GuestClockGap> clock_gap(const ConsoleLine &a, const ConsoleLine &b) {
  if (a.guest_clock_ms < 0 || b.guest_clock_ms < 0) return std::nullopt;
  GuestClockGap gap;
  gap.host_ms = std::chrono::duration_cast<std::chrono::milliseconds>(b.at - a.at).count();
  gap.guest_ms = b.guest_clock_ms - a.guest_clock_ms;
  gap.stopped_ms = gap.host_ms - gap.guest_ms;
  return gap;
}

}  // namespace hal::conformance
