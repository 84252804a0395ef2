// migration.cc - migration parameters and the relay (see migration.h).
#include "backends/cloud-hypervisor/migration.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/spec/vm_spec_validation.h"
#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {
using hal::plugin::Failure;
using nlohmann::json;

MigrationParams parse_migration_params(std::string_view params_json,
                                       const MigrationPolicy &policy) {
  MigrationParams params;
  params.max_downtime_ms = policy.max_downtime_ms;
  params.bandwidth_mibps = policy.bandwidth_mibps;
  json doc = params_json.empty() ? json::object() : json::parse(params_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw Failure(HAL_INVALID_ARGUMENT, "migration params: not a JSON object");
  }
  auto errors = hal::validate_document("migration-params", doc, "params");
  if (!errors.empty()) throw Failure(HAL_INVALID_ARGUMENT, hal::format_errors(errors));
  if (doc.contains("tls")) params.tls = backend_common::parse_migration_tls(doc["tls"]);
  params.uri = doc.value("uri", "");
  if (!params.uri.empty() && params.uri.rfind("tcp:", 0) != 0 &&
      params.uri.rfind("unix:", 0) != 0) {
    throw Failure(HAL_UNSUPPORTED,
                  "params.uri: Cloud Hypervisor migrates over tcp: or unix: "
                  "URLs only, not '" +
                      params.uri + "'");
  }
  params.max_downtime_ms = doc.value("maxDowntimeMs", params.max_downtime_ms);
  params.bandwidth_mibps = doc.value("bandwidthMiBps", params.bandwidth_mibps);
  params.timeout_ms = doc.value("timeoutMs", uint64_t{0});
  params.downtime_set =
      doc.contains("maxDowntimeMs") || policy.max_downtime_ms != MigrationPolicy{}.max_downtime_ms;
  if (doc.value("postCopy", policy.post_copy)) {
    throw Failure(HAL_UNSUPPORTED,
                  "params.postCopy: post-copy migration is not supported by the "
                  "cloud-hypervisor backend");
  }
  if (doc.value("multifdChannels", policy.multifd_channels) > 1) {
    throw Failure(HAL_UNSUPPORTED,
                  "params.multifdChannels: the migration relay carries one "
                  "connection (Cloud Hypervisor's unix: migration has no "
                  "parallel connections)");
  }
  return params;
}

json send_migration_body(const MigrationParams &params, const std::string &relay_url,
                         ChVersion release) {
  json body = {{"destination_url", relay_url}};
  if (!has_migration_limits(release)) {
    auto refuse = [&](const char *field, const char *what) {
      throw Failure(HAL_UNSUPPORTED, std::string("params.") + field + ": cloud-hypervisor " +
                                         release.str() + " has no " + what +
                                         " (vm.send-migration takes one from v52.0 on)");
    };
    if (params.downtime_set) refuse("maxDowntimeMs", "downtime limit");
    if (params.timeout_ms > 0) refuse("timeoutMs", "migration timeout");
    return body;
  }
  body["downtime_ms"] = std::max<uint32_t>(1, params.max_downtime_ms);
  body["timeout_s"] = params.timeout_ms > 0
                          ? std::max<uint64_t>(1, (params.timeout_ms + 999) / 1000)
                          : kNoTimeoutSeconds;
  body["timeout_strategy"] = "Cancel";
  return body;
}

namespace {
struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_UNIX;
  std::string path;
};

Endpoint resolve(const std::string &url, bool passive) {
  Endpoint e;
  if (url.rfind("unix:", 0) == 0) {
    e.path = url.substr(5);
    auto *un = reinterpret_cast<sockaddr_un *>(&e.addr);
    if (e.path.empty() || e.path.size() >= sizeof(un->sun_path)) {
      throw std::runtime_error("bad unix URL '" + url + "'");
    }
    un->sun_family = AF_UNIX;
    std::strncpy(un->sun_path, e.path.c_str(), sizeof(un->sun_path) - 1);
    e.len = sizeof(sockaddr_un);
    return e;
  }
  if (url.rfind("tcp:", 0) != 0) throw std::runtime_error("unsupported URL '" + url + "'");
  std::string rest = url.substr(4);
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("bad tcp URL '" + url + "'");
  std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo *list = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &list);
      rc != 0 || list == nullptr) {
    throw std::runtime_error("cannot resolve '" + url + "': " + gai_strerror(rc));
  }
  std::memcpy(&e.addr, list->ai_addr, list->ai_addrlen);
  e.len = list->ai_addrlen;
  e.family = list->ai_family;
  ::freeaddrinfo(list);
  return e;
}

int connect_to(const std::string &url) {
  Endpoint e = resolve(url, false);
  int fd = ::socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr *>(&e.addr), e.len) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}
}  // namespace

MigrationRelay::MigrationRelay(const std::string &listen_url, std::string connect_url,
                               uint32_t bandwidth_mibps, uint32_t connect_retry_ms)
    : connect_url_(std::move(connect_url)),
      bandwidth_mibps_(bandwidth_mibps),
      connect_retry_ms_(connect_retry_ms) {
  Endpoint e = resolve(listen_url, true);
  listen_fd_ = ::socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!e.path.empty()) ::unlink(e.path.c_str());
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&e.addr), e.len) != 0 ||
      ::listen(listen_fd_, 4) != 0) {
    int err = errno;
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("cannot listen on " + listen_url + ": " + std::strerror(err));
  }
  listen_path_ = e.path;
  listen_url_ = listen_url;
  if (e.path.empty()) {
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&bound), &len);
    uint16_t port = bound.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
    listen_url_ = listen_url.substr(0, listen_url.rfind(':') + 1) + std::to_string(port);
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

MigrationRelay::~MigrationRelay() {
  cancel();
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
  if (!listen_path_.empty()) ::unlink(listen_path_.c_str());
}

void MigrationRelay::cancel() {
  cancelled_ = true;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

std::string MigrationRelay::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

bool MigrationRelay::wait_finished(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return finished_cv_.wait_for(lock, timeout, [this] { return finished_; });
}

void MigrationRelay::run() {
  pump();
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  finished_cv_.notify_all();
}

void MigrationRelay::pump() {
  auto set_error = [&](const std::string &e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.empty()) error_ = e;
  };
  pollfd lfds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (::poll(lfds, 2, -1) < 0 && errno == EINTR) {
  }
  if (lfds[1].revents) return;
  int in = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (in < 0) return set_error(std::string("accept: ") + std::strerror(errno));
  int out = -1;
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(connect_retry_ms_);
  for (;;) {
    try {
      out = connect_to(connect_url_);
    } catch (const std::exception &e) {
      set_error(e.what());
      break;
    }
    if (out >= 0 || cancelled_ || std::chrono::steady_clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (out < 0) {
    set_error("cannot connect to " + connect_url_ + ": " + std::strerror(errno));
    ::close(in);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t budget_bytes = 0;
  std::vector<char> buffer(256 * 1024);
  bool open_in = true, open_out = true;
  while (open_in && open_out && !cancelled_) {
    pollfd fds[3] = {{in, POLLIN, 0}, {out, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 3, 1000) < 0 && errno != EINTR) break;
    if (fds[2].revents) break;
    for (int side = 0; side < 2; ++side) {
      if (!(fds[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = side == 0 ? in : out, to = side == 0 ? out : in;
      size_t want = buffer.size();
      if (side == 0 && bandwidth_mibps_ > 0) {
        // Token bucket: at most bandwidth * elapsed bytes so far.
        double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        uint64_t allowed = static_cast<uint64_t>(elapsed * bandwidth_mibps_ * 1048576.0) + 65536;
        if (allowed <= budget_bytes) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        want = std::min<uint64_t>(want, allowed - budget_bytes);
      }
      ssize_t n = ::recv(from, buffer.data(), want, 0);
      if (n <= 0) {
        (side == 0 ? open_in : open_out) = false;
        break;
      }
      size_t sent = 0;
      while (sent < static_cast<size_t>(n)) {
        ssize_t m = ::send(to, buffer.data() + sent, static_cast<size_t>(n) - sent, MSG_NOSIGNAL);
        if (m <= 0) {
          open_out = open_in = false;
          break;
        }
        sent += static_cast<size_t>(m);
      }
      if (side == 0) {
        budget_bytes += static_cast<uint64_t>(n);
        forwarded_ += static_cast<uint64_t>(n);
      }
    }
  }
  if (cancelled_) {
    // Reset rather than close politely: both VMMs see the migration fail at once.
    linger hard{1, 0};
    ::setsockopt(in, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    ::setsockopt(out, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  ::shutdown(in, SHUT_RDWR);
  ::shutdown(out, SHUT_RDWR);
  ::close(in);
  ::close(out);
}

}  // namespace hal::cloud_hypervisor
