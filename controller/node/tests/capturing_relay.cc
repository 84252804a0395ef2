// capturing_relay.cc - the test relay that records what it forwards (see capturing_relay.h).
#include "controller/node/tests/capturing_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hal::node::testing {

namespace {

constexpr size_t kHeadBytes = 64 * 1024;

sockaddr_in loopback(const std::string &host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    throw std::runtime_error("relay: bad IPv4 address '" + host + "'");
  return address;
}

// Sends all of `data`; false when the peer is gone.
bool send_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

CapturingRelay::CapturingRelay(const std::string &host, int port, std::vector<std::string> patterns)
    : patterns_(std::move(patterns)), found_(patterns_.size()) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback("127.0.0.1", 0);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&address), length) != 0 ||
      ::listen(listen_fd_, 1) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&address), &length) != 0) {
    const std::string why = std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("relay: cannot listen: " + why);
  }
  port_ = ntohs(address.sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this, port, host] { run(port, host); });
}

CapturingRelay::~CapturingRelay() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

std::string CapturingRelay::head() const {
  std::lock_guard lock(mutex_);
  return head_;
}

std::vector<uint64_t> CapturingRelay::found(size_t index) const {
  std::lock_guard lock(mutex_);
  return found_.at(index);
}

void CapturingRelay::scan(const char *data, size_t size) {
  std::lock_guard lock(mutex_);
  const uint64_t start = forwarded_.load();  // stream offset of data[0]
  if (head_.size() < kHeadBytes) head_.append(data, std::min(size, kHeadBytes - head_.size()));
  // Search the previous tail + this chunk so a pattern split across two reads is found once.
  const std::string window = tail_ + std::string(data, size);
  const uint64_t window_start = start - tail_.size();
  size_t longest = 0;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const std::string &pattern = patterns_[i];
    longest = std::max(longest, pattern.size());
    for (size_t at = window.find(pattern); at != std::string::npos;
         at = window.find(pattern, at + 1)) {
      // Matches wholly inside the old tail were counted with the previous chunk.
      if (at + pattern.size() <= tail_.size()) continue;
      if (found_[i].size() < 16) found_[i].push_back(window_start + at);
    }
  }
  const size_t keep = longest > 0 ? longest - 1 : 0;
  tail_ = window.size() > keep ? window.substr(window.size() - keep) : window;
}

void CapturingRelay::run(int destination_port, std::string host) {
  pollfd waiting[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (::poll(waiting, 2, -1) < 0 && errno == EINTR) {
  }
  if (waiting[1].revents) return;
  const int in = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (in < 0) return;
  const int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in destination = loopback(host, destination_port);
  if (out < 0 ||
      ::connect(out, reinterpret_cast<sockaddr *>(&destination), sizeof destination) != 0) {
    if (out >= 0) ::close(out);
    ::close(in);
    return;
  }
  std::vector<char> buffer(256 * 1024);
  bool open = true;
  while (open) {
    pollfd fds[3] = {{in, POLLIN, 0}, {out, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[2].revents) break;
    for (int side = 0; side < 2 && open; ++side) {
      if (!(fds[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = side == 0 ? in : out;
      const int to = side == 0 ? out : in;
      const ssize_t n = ::recv(from, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        open = false;
        break;
      }
      if (side == 0) {
        scan(buffer.data(), static_cast<size_t>(n));
        forwarded_ += static_cast<uint64_t>(n);
      }
      open = send_all(to, buffer.data(), static_cast<size_t>(n));
    }
  }
  ::shutdown(in, SHUT_RDWR);
  ::shutdown(out, SHUT_RDWR);
  ::close(in);
  ::close(out);
}

}  // namespace hal::node::testing
