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

SerialPort::SerialPort(const std::string &mode, const std::string &path)
    : mode_(mode), path_(path) {
  if (mode_ == "Socket") {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path))
      throw std::runtime_error("serial socket path too long");
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    ::unlink(path_.c_str());
    if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      int err = errno;
      ::close(listen_fd_);
      throw std::runtime_error("serial socket " + path_ + ": " + std::strerror(err));
    }
    ::chmod(path_.c_str(), 0600);
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) inode_ = st.st_ino;
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    acceptor_ = std::thread([this] { accept_loop(); });
  } else if (mode_ == "File") {
    file_fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (file_fd_ < 0)
      throw std::runtime_error("serial file " + path_ + ": " + std::strerror(errno));
  }
}

SerialPort::~SerialPort() {
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    acceptor_.join();
  }
  for (int fd : clients_) ::close(fd);
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    // A migration target on this host may have bound the same path since: leave its socket.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) ::unlink(path_.c_str());
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (file_fd_ >= 0) ::close(file_fd_);
}

void SerialPort::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!history_.empty()) (void)!::send(fd, history_.data(), history_.size(), MSG_NOSIGNAL);
    clients_.push_back(fd);
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
  if (history_.size() < (1u << 20)) history_ += text;
  for (auto it = clients_.begin(); it != clients_.end();) {
    ssize_t n = ::send(*it, text.data(), text.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      ::close(*it);
      it = clients_.erase(it);
    } else {
      ++it;
    }
  }
}

void SerialPort::new_boot() {
  std::lock_guard<std::mutex> lock(mutex_);
  history_.clear();
}

}  // namespace hal::ch_emulator
