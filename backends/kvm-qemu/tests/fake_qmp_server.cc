// Scripted fake QMP server for QmpClient unit tests (see fake_qmp_server.h).
#include "backends/kvm-qemu/tests/fake_qmp_server.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace hal::kvm_qemu::testing {

bool FakeQmpConnection::SendRaw(const std::string &bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool FakeQmpConnection::SendGreeting() {
  return Send(
      {{"QMP",
        {{"version", {{"qemu", {{"micro", 0}, {"minor", 2}, {"major", 7}}}, {"package", "fake"}}},
         {"capabilities", {"oob"}}}}});
}

std::optional<nlohmann::json> FakeQmpConnection::ReadMessage(int timeout_ms) {
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) return std::nullopt;
      return j;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

bool FakeQmpConnection::Handshake() {
  if (!SendGreeting()) return false;
  auto cmd = ReadMessage();
  if (!cmd || cmd->value("execute", "") != "qmp_capabilities") return false;
  return Send({{"return", nlohmann::json::object()}, {"id", (*cmd)["id"]}});
}

void FakeQmpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

FakeQmpServer::FakeQmpServer(std::function<void(FakeQmpConnection &)> script) {
  path_ = dir_.str() + "/qmp.sock";
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 4) != 0) {
    throw std::runtime_error(std::string("fake QMP server: ") + std::strerror(errno));
  }
  thread_ = std::thread([this, script = std::move(script)] {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    FakeQmpConnection conn(fd);
    script(conn);
    conn.close();
  });
}

FakeQmpServer::~FakeQmpServer() {
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

}  // namespace hal::kvm_qemu::testing
