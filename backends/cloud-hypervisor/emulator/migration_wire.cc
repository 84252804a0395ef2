// migration_wire.cc - sockets and framing of emulator-to-emulator migration (see
// migration_wire.h).
#include "backends/cloud-hypervisor/emulator/migration_wire.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace hal::ch_emulator {
namespace {
constexpr size_t kChunk = 1u << 20;

[[noreturn]] void fail(const std::string &what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct Parsed {
  bool unix_socket = false;
  std::string path, host, port;
};

Parsed parse_url(const std::string &url) {
  Parsed p;
  if (url.rfind("unix:", 0) == 0) {
    p.unix_socket = true;
    p.path = url.substr(5);
    if (p.path.empty() || p.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw std::runtime_error("invalid unix URL '" + url + "'");
    }
    return p;
  }
  if (url.rfind("tcp:", 0) == 0) {
    std::string rest = url.substr(4);
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon + 1 == rest.size()) {
      throw std::runtime_error("invalid tcp URL '" + url + "' (tcp:HOST:PORT)");
    }
    p.host = rest.substr(0, colon);
    p.port = rest.substr(colon + 1);
    if (p.host.size() > 2 && p.host.front() == '[') p.host = p.host.substr(1, p.host.size() - 2);
    return p;
  }
  throw std::runtime_error("unsupported migration URL '" + url + "' (unix: or tcp:)");
}

sockaddr_un unix_address(const std::string &path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

template <class Fn>
Socket with_tcp(const Parsed &p, bool passive, Fn &&fn) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo *list = nullptr;
  if (int rc =
          ::getaddrinfo(p.host.empty() ? nullptr : p.host.c_str(), p.port.c_str(), &hints, &list);
      rc != 0) {
    throw std::runtime_error("cannot resolve " + p.host + ":" + p.port + ": " + gai_strerror(rc));
  }
  std::string last = "no address";
  for (addrinfo *ai = list; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (fn(fd, ai->ai_addr, ai->ai_addrlen)) {
      ::freeaddrinfo(list);
      return Socket(fd);
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(list);
  throw std::runtime_error("tcp:" + p.host + ":" + p.port + ": " + last);
}
}  // namespace

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}
Socket &Socket::operator=(Socket &&other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Socket connect_url(const std::string &url) {
  Parsed p = parse_url(url);
  if (p.unix_socket) {
    Socket s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = unix_address(p.path);
    if (::connect(s.fd(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
      fail("cannot connect to " + url);
    }
    return s;
  }
  return with_tcp(p, false,
                  [](int fd, sockaddr *a, socklen_t n) { return ::connect(fd, a, n) == 0; });
}

Socket listen_url(const std::string &url) {
  Parsed p = parse_url(url);
  if (p.unix_socket) {
    Socket s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = unix_address(p.path);
    ::unlink(p.path.c_str());
    if (::bind(s.fd(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::listen(s.fd(), 4) != 0) {
      fail("cannot listen on " + url);
    }
    return s;
  }
  return with_tcp(p, true, [](int fd, sockaddr *a, socklen_t n) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    return ::bind(fd, a, n) == 0 && ::listen(fd, 4) == 0;
  });
}

Socket accept_connection(const Socket &listener, int abort_fd, std::chrono::seconds timeout) {
  pollfd fds[2] = {{listener.fd(), POLLIN, 0}, {abort_fd, POLLIN, 0}};
  int rc;
  do {
    rc = ::poll(fds, abort_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count() * 1000));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) throw std::runtime_error("Timed out waiting for sender to connect");
  if (rc < 0) fail("poll");
  if (abort_fd >= 0 && fds[1].revents) throw std::runtime_error("migration reception aborted");
  int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) fail("accept");
  return Socket(fd);
}

void set_io_timeout(const Socket &socket, std::chrono::seconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void write_all(const Socket &socket, const void *data, size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::send(socket.fd(), p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("Error sending migration data");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void read_exact(const Socket &socket, void *data, size_t size) {
  char *p = static_cast<char *>(data);
  while (size > 0) {
    ssize_t n = ::recv(socket.fd(), p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) throw std::runtime_error("Error receiving migration data: connection closed");
    if (n < 0) fail("Error receiving migration data");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void write_line(const Socket &socket, const std::string &line) {
  std::string text = line + "\n";
  write_all(socket, text.data(), text.size());
}

std::string read_line(const Socket &socket, size_t max) {
  std::string line;
  char c;
  for (;;) {
    read_exact(socket, &c, 1);
    if (c == '\n') return line;
    line += c;
    if (line.size() > max) throw std::runtime_error("migration protocol: line too long");
  }
}

void send_pass(const Socket &socket, uint64_t bytes) {
  static const std::vector<char> pattern = [] {
    std::vector<char> v(kChunk);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>(i * 131 + 7);
    return v;
  }();
  while (bytes > 0) {
    uint64_t n = std::min<uint64_t>(bytes, kChunk);
    write_all(socket, &n, sizeof n);
    write_all(socket, pattern.data(), n);
    bytes -= n;
  }
  uint64_t zero = 0;
  write_all(socket, &zero, sizeof zero);
}

uint64_t receive_pass(const Socket &socket) {
  std::vector<char> buffer(kChunk);
  uint64_t total = 0;
  for (;;) {
    uint64_t n = 0;
    read_exact(socket, &n, sizeof n);
    if (n == 0) return total;
    if (n > kChunk) throw std::runtime_error("migration protocol: chunk too large");
    read_exact(socket, buffer.data(), n);
    total += n;
  }
}

}  // namespace hal::ch_emulator
