// console.cc - serial port back ends of the emulator (see console.h).
#include "backends/cloud-hypervisor/emulator/console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hal::ch_emulator {
namespace {
constexpr size_t kRing = 1u << 20;  // upstream's serial buffer: the last 1 MiB
}  // namespace

SerialPort::SerialPort(const std::string &mode, const std::string &path, bool buffer_detached)
    : mode_(mode), path_(path), buffer_detached_(buffer_detached) {
  if (mode_ == "Socket") {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) {
      ::close(listen_fd_);
      throw std::runtime_error("serial socket path too long");
    }
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    // No unlink first: the VMM binds as is, and a leftover file makes this fail.
    if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      int err = errno;
      ::close(listen_fd_);
      throw std::runtime_error(std::string(std::strerror(err)) + " (os error " +
                               std::to_string(err) + ")");
    }
    ::chmod(path_.c_str(), 0600);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    acceptor_ = std::thread([this] { accept_loop(); });
  } else if (mode_ == "File") {
    file_fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (file_fd_ < 0) {
      throw std::runtime_error("serial file " + path_ + ": " + std::strerror(errno));
    }
  }
}

SerialPort::~SerialPort() {
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    acceptor_.join();
  }
  if (client_ >= 0) ::close(client_);
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());  // the serial manager removes its socket when dropped
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (file_fd_ >= 0) ::close(file_fd_);
}

void SerialPort::accept_loop() {
  for (;;) {
    int client;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      client = client_;
    }
    pollfd fds[3] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}, {client, POLLIN, 0}};
    if (::poll(fds, client >= 0 ? 3 : 2, 200) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (client >= 0 && fds[2].revents) {
      // Input is not modelled; a client that hung up is detached (output is buffered again).
      char discard[256];
      ssize_t n = ::recv(client, discard, sizeof discard, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (client_ == client) {
          ::close(client_);
          client_ = -1;
        }
      }
    }
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    // One client at a time: a new connection shuts the previous one down.
    if (client_ >= 0) {
      ::shutdown(client_, SHUT_RDWR);
      ::close(client_);
    }
    client_ = fd;
    if (!buffer_.empty()) {
      std::string pending;
      pending.swap(buffer_);  // delivered once, to this client
      send_locked(pending);
    }
  }
}

void SerialPort::send_locked(const std::string &text) {
  if (client_ < 0) {
    if (!buffer_detached_) return;  // up to v52: nobody listens, the output is lost
    buffer_ += text;
    if (buffer_.size() > kRing) buffer_.erase(0, buffer_.size() - kRing);
    return;
  }
  ssize_t n = ::send(client_, text.data(), text.size(), MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    ::close(client_);
    client_ = -1;
    send_locked(text);  // detached now: kept for the next client, or lost
  }
}

void SerialPort::write_line(const std::string &line) {
  const std::string text = line + "\n";
  if (mode_ == "Tty") {
    (void)!::write(STDOUT_FILENO, text.data(), text.size());
  } else if (file_fd_ >= 0) {
    (void)!::write(file_fd_, text.data(), text.size());
  }
  if (listen_fd_ < 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  send_locked(text);
}

}  // namespace hal::ch_emulator
