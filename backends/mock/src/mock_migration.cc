// mock_migration.cc - live migration between two mock instances (same or different processes):
// the target listens on a loopback TCP port (Boost.Asio), the source streams the simulated
// guest memory at a simulated bandwidth, then hands over the guest state (bootCount, heartbeat).
//
// Wire protocol: frames of [1 byte type][4 bytes big-endian length][payload].
//   'H' header JSON {"vm","totalBytes"} (source -> target)
//   'D' data: 8 bytes big-endian count of guest bytes this frame stands for, then 4 KiB of
//       page data (the mock's guest memory is zero pages, sent compressed)
//   'F' final guest state JSON (source -> target, the guest is frozen on the source)
//   'A' ack (target -> source): the target runs the guest; the source becomes MIGRATED.
// A closed connection before 'A' fails/cancels the migration on both sides.
//
// With migration-params "tls" the same frames go through two TlsRelays (backends/common): the
// source connects to its relay's private unix socket, which carries the stream over mutual TLS
// to the target's relay listening at the endpoint, which hands it to the target's own listener,
// a unix socket in a private directory (so nothing reaches the target in clear).
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

// clang-format off
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange in C++20
#include <boost/asio.hpp>
// clang-format on
#include <cstring>
#include <filesystem>
#include <optional>

#include "backends/common/migration_tls_params.h"
#include "backends/common/tls_relay.h"
#include "mock_backend.h"

namespace hal::mock {

using nlohmann::json;
using plugin::Failure;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Stream = asio::generic::stream_protocol;  // tcp, or a unix socket behind a TLS relay
using StreamAcceptor = asio::basic_socket_acceptor<Stream>;
using Clock = std::chrono::steady_clock;
using backend_common::TlsRelay;

namespace {

constexpr size_t kPagePayload = 4096;

/** Non-blocking framed I/O on a socket fd that gives up on cancel or deadline. */
class Wire {
 public:
  Wire(int fd, const std::atomic<bool> &cancel) : fd_(fd), cancel_(cancel) {}

  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }

  void send_frame(char type, const void *payload, size_t size) {
    unsigned char head[5] = {
        static_cast<unsigned char>(type), static_cast<unsigned char>(size >> 24),
        static_cast<unsigned char>(size >> 16), static_cast<unsigned char>(size >> 8),
        static_cast<unsigned char>(size)};
    io(head, sizeof head, true);
    if (size) io(const_cast<void *>(payload), size, true);
  }

  /** Reads one frame; returns its type. */
  char recv_frame(std::string &payload) {
    unsigned char head[5];
    io(head, sizeof head, false);
    uint32_t size = (uint32_t{head[1]} << 24) | (uint32_t{head[2]} << 16) |
                    (uint32_t{head[3]} << 8) | uint32_t{head[4]};
    if (size > (16u << 20)) throw std::runtime_error("frame too large");
    payload.resize(size);
    if (size) io(payload.data(), size, false);
    return static_cast<char>(head[0]);
  }

 private:
  void io(void *data, size_t size, bool out) {
    auto *p = static_cast<char *>(data);
    while (size > 0) {
      if (cancel_) throw std::runtime_error("cancelled");
      if (Clock::now() > deadline_) throw std::runtime_error("timed out");
      pollfd pfd{fd_, static_cast<short>(out ? POLLOUT : POLLIN), 0};
      int ready = ::poll(&pfd, 1, 20);
      if (ready < 0 && errno != EINTR) throw std::runtime_error(std::strerror(errno));
      if (ready <= 0) continue;
      ssize_t n = out ? ::send(fd_, p, size, MSG_NOSIGNAL) : ::recv(fd_, p, size, 0);
      if (n == 0) throw std::runtime_error("connection closed by peer");
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        throw std::runtime_error(std::strerror(errno));
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  int fd_;
  const std::atomic<bool> &cancel_;
  Clock::time_point deadline_ = Clock::time_point::max();
};

void put_u64(char *out, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
}
uint64_t get_u64(const char *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

/** Emits a migration event for `record` (takes and releases its lock). */
void migration_event(MockBackend &backend, VmRecord &record, hal_event_type type,
                     const json &detail) {
  std::unique_lock lock(record.mu);
  std::vector<PendingEvent> events{{type, record.state, detail}};
  backend.deliver(lock, record.id, events);
}

/** Ends the incoming side without a guest: the target VM becomes STOPPED. */
void fail_incoming(MockBackend &backend, VmRecord &record, MigrationJob &job,
                   const std::string &why) {
  job.finish(job.cancel ? "cancelled" : "failed", why);
  std::unique_lock lock(record.mu);
  std::vector<PendingEvent> events;
  if (!record.deleted && record.state == HAL_VM_STATE_INCOMING)
    backend.set_state(record, HAL_VM_STATE_STOPPED, "incoming migration ended: " + why, events);
  events.push_back({HAL_EVENT_MIGRATION_FINISHED, record.state, job.progress()});
  backend.deliver(lock, record.id, events);
}

void run_incoming(MockBackend &backend, std::shared_ptr<VmRecord> record,
                  std::shared_ptr<MigrationJob> job, std::shared_ptr<asio::io_context> io,
                  std::shared_ptr<StreamAcceptor> acceptor, int64_t timeout_ms) {
  auto deadline = timeout_ms > 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms)
                                 : Clock::time_point::max();
  try {
    Stream::socket socket(*io);
    acceptor->non_blocking(true);
    for (;;) {
      boost::system::error_code ec;
      acceptor->accept(socket, ec);
      if (!ec) break;
      if (ec != asio::error::would_block && ec != asio::error::try_again)
        throw std::runtime_error("accept: " + ec.message());
      if (job->cancel) throw std::runtime_error("cancelled");
      if (Clock::now() > deadline) throw std::runtime_error("no source connected in time");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    acceptor->close();
    socket.non_blocking(true);
    Wire wire(socket.native_handle(), job->cancel);
    wire.set_deadline(deadline);
    std::string payload;
    if (wire.recv_frame(payload) != 'H') throw std::runtime_error("protocol: expected header");
    json header = json::parse(payload);
    if (header.value("vm", "") != record->id)
      throw std::runtime_error("source sends VM '" + header.value("vm", "") + "', expected '" +
                               record->id + "'");
    {
      std::lock_guard lock(job->mu);
      job->status = "active";
      job->total_bytes = header.value("totalBytes", uint64_t{0});
    }
    for (;;) {
      char type = wire.recv_frame(payload);
      if (type == 'D' && payload.size() >= 8) {
        std::lock_guard lock(job->mu);
        job->transferred_bytes += get_u64(payload.data());
        continue;
      }
      if (type != 'F') throw std::runtime_error("protocol: unexpected frame");
      json guest = json::parse(payload);
      std::unique_lock lock(record->mu);
      if (record->deleted || record->state != HAL_VM_STATE_INCOMING)
        throw std::runtime_error("target VM left Incoming");
      record->boot_count = guest.value("bootCount", uint64_t{0});
      record->run_accum_ms = guest.value("runMs", int64_t{0});
      record->boot_at_run_ms = guest.value("bootAtRunMs", int64_t{0});
      record->generation += 1;
      record->clock_start();
      std::vector<PendingEvent> events;
      backend.set_state(*record, HAL_VM_STATE_RUNNING, "incoming migration completed", events);
      wire.send_frame('A', nullptr, 0);
      {
        std::lock_guard job_lock(job->mu);
        job->downtime_ms = guest.value("downtimeSoFarMs", int64_t{0});
      }
      job->finish("completed", "");
      events.push_back({HAL_EVENT_MIGRATION_FINISHED, HAL_VM_STATE_RUNNING, job->progress()});
      backend.deliver(lock, record->id, events);
      return;
    }
  } catch (const std::exception &e) {
    fail_incoming(backend, *record, *job, e.what());
  }
}

/** The TCP endpoint of "tcp:HOST:PORT" (HOST an address, "[v6]" or a name to resolve; a
 *  `passive` (listen) uri may leave out the port: any). Throws std::runtime_error naming what is
 *  wrong. */
tcp::endpoint resolve_tcp_uri(asio::io_context &io, const std::string &uri, bool passive) {
  if (!uri.starts_with("tcp:")) throw std::runtime_error("must be \"tcp:HOST:PORT\"");
  const std::string rest = uri.substr(4);
  std::string host = rest, port = passive ? "0" : "";
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) throw std::runtime_error("'" + uri + "' lacks ']'");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw std::runtime_error("must be \"tcp:[HOST]:PORT\"");
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty() || port.empty()) throw std::runtime_error("must be \"tcp:HOST:PORT\"");
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto flags = tcp::resolver::numeric_service | (passive ? tcp::resolver::passive : 0);
  auto results = resolver.resolve(host, port, static_cast<tcp::resolver::flags>(flags), ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve '" + uri + "': " + ec.message());
  return results.begin()->endpoint();
}

/** "tcp:HOST:PORT", with an IPv6 HOST in brackets. */
std::string tcp_uri(const asio::ip::address &host, unsigned short port) {
  const std::string text = host.to_string();
  return "tcp:" + (host.is_v6() ? "[" + text + "]" : text) + ":" + std::to_string(port);
}

/** The port a TCP acceptor is bound to. */
unsigned short port_of(const StreamAcceptor &acceptor) {
  const Stream::endpoint local = acceptor.local_endpoint();
  if (local.protocol().family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6 *>(local.data())->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in *>(local.data())->sin_port);
}

/** A unix socket path in a new directory only this user may enter, removed with it. */
class PrivateSocket {
 public:
  PrivateSocket() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hal-mock-migration-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw Failure(HAL_UNAVAILABLE, std::string("migration: cannot create a private directory: ") +
                                         std::strerror(errno));
    dir_ = pattern;
  }
  ~PrivateSocket() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  PrivateSocket(const PrivateSocket &) = delete;
  PrivateSocket &operator=(const PrivateSocket &) = delete;
  std::string path() const { return (dir_ / "in.sock").string(); }

 private:
  std::filesystem::path dir_;
};

/** Parses migration_send's params; throws INVALID_ARGUMENT / UNSUPPORTED naming the key. */
json check_send_params(std::string_view params_json) {
  json params = json::parse(params_json, nullptr, false);
  if (params.is_discarded() || !params.is_object())
    throw Failure(HAL_INVALID_ARGUMENT, "migration_send: params: must be a JSON object");
  auto bad = [](const std::string &key, const std::string &why) {
    throw Failure(HAL_INVALID_ARGUMENT, "migration_send: params." + key + ": " + why);
  };
  for (const auto &[key, value] : params.items()) {
    if (key == "uri") {
      if (!value.is_string()) bad(key, "must be a string");
    } else if (key == "maxDowntimeMs" || key == "multifdChannels" || key == "timeoutMs") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0)
        bad(key, "must be a non-negative integer");
    } else if (key == "bandwidthMiBps") {
      if (!value.is_number() || value.get<double>() < 0) bad(key, "must be a number >= 0");
    } else if (key == "autoConverge" || key == "postCopy") {
      if (!value.is_boolean()) bad(key, "must be a boolean");
    } else if (key == "tls") {
      backend_common::parse_migration_tls(value);
    } else {
      bad(key, "unknown parameter");
    }
  }
  if (!params.contains("uri")) bad("uri", "required");
  std::string uri = params["uri"];
  auto colon = uri.rfind(':');
  if (!uri.starts_with("tcp:") || colon <= 4 || colon + 1 >= uri.size())
    bad("uri", "must be \"tcp:HOST:PORT\"");
  if (params.value("postCopy", false))
    throw Failure(HAL_UNSUPPORTED, "migration_send: params.postCopy: the mock has no post-copy");
  return params;
}

}  // namespace

std::unique_ptr<plugin::Vm> MockBackend::prepare_incoming(std::string_view spec_json,
                                                          std::string_view params_json,
                                                          std::string &out_endpoint_json) {
  slow();
  const char *op = "migration_prepare_incoming";
  CheckedSpec checked = check_spec(spec_json, op);
  if (checked.tdx)
    throw Failure(HAL_UNSUPPORTED, std::string(op) +
                                       ": TDX VMs cannot migrate (spec "
                                       "launchSecurity.type is tdx)");
  int64_t timeout_ms = 0;  // 0 = wait for the source as long as the backend is open
  std::string listen_uri = "tcp:127.0.0.1:0";
  std::optional<backend_common::MigrationTlsParams> tls;
  if (!params_json.empty()) {
    json params = json::parse(params_json, nullptr, false);
    auto bad = [&](const std::string &key, const std::string &why) {
      throw Failure(HAL_INVALID_ARGUMENT, std::string(op) + ": params" + key + ": " + why);
    };
    if (params.is_discarded() || !params.is_object()) bad("", "must be a JSON object");
    for (const auto &[key, value] : params.items()) {
      if (key == "timeoutMs") {
        if (!value.is_number_integer() || value.get<int64_t>() < 0)
          bad(".timeoutMs", "must be a non-negative integer");
        timeout_ms = value.get<int64_t>();
      } else if (key == "uri") {
        // tcp:HOST or tcp:HOST:PORT to listen on.
        listen_uri = value.is_string() ? value.get<std::string>() : "";
        if (!listen_uri.starts_with("tcp:")) bad(".uri", "must be \"tcp:HOST[:PORT]\"");
      } else if (key == "tls") {
        tls = backend_common::parse_migration_tls(value);
      } else if (key != "maxDowntimeMs" && key != "bandwidthMiBps" && key != "autoConverge" &&
                 key != "postCopy" && key != "multifdChannels") {
        bad("." + key, "unknown parameter");
      }
    }
  }
  auto io = std::make_shared<asio::io_context>();
  auto acceptor = std::make_shared<StreamAcceptor>(*io);
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  try {
    endpoint = resolve_tcp_uri(*io, listen_uri, true);
  } catch (const std::exception &e) {
    throw Failure(HAL_INVALID_ARGUMENT, std::string(op) + ": params.uri: " + e.what());
  }
  // With TLS the mock itself listens on a unix socket only its relay can reach.
  std::shared_ptr<PrivateSocket> private_socket;
  if (tls) private_socket = std::make_shared<PrivateSocket>();
  const Stream::endpoint listen_at =
      tls ? Stream::endpoint(asio::local::stream_protocol::endpoint(private_socket->path()))
          : Stream::endpoint(endpoint);
  acceptor->open(listen_at.protocol(), ec);
  if (!ec) acceptor->bind(listen_at, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw Failure(HAL_RESOURCE_EXHAUSTED, std::string(op) + ": listen: " + ec.message());
  std::shared_ptr<TlsRelay> relay;
  if (tls) {
    relay = std::make_shared<TlsRelay>(TlsRelay::Role::kTarget, *tls, listen_uri,
                                       "unix:" + private_socket->path());
  }
  const std::string answered =
      relay ? relay->listen_url() : tcp_uri(endpoint.address(), port_of(*acceptor));

  auto record = std::make_shared<VmRecord>();
  record->id = checked.id;
  record->spec = std::move(checked.compact);
  record->memory_bytes = checked.memory_bytes;
  record->state = HAL_VM_STATE_INCOMING;
  auto job = std::make_shared<MigrationJob>();
  job->role = "target";
  job->total_bytes = checked.memory_bytes;
  record->migration = job;
  {
    std::unique_lock lock(record->mu);
    if (!store_->insert(record))
      throw Failure(HAL_ALREADY_EXISTS,
                    std::string(op) + ": VM '" + record->id + "' already exists");
    std::vector<PendingEvent> events;
    set_state(*record, HAL_VM_STATE_INCOMING, "waiting for incoming migration", events);
    deliver(lock, record->id, events);
  }
  track(job);
  auto vm = std::make_unique<MockVm>(*this, record);
  spawn([this, record, job, io, acceptor, timeout_ms, relay, private_socket] {
    run_incoming(*this, record, job, io, acceptor, timeout_ms);
    // The last frames (the ack) still cross the relay after the mock's socket closed.
    if (relay) relay->wait_finished(std::chrono::seconds(10));
  });
  out_endpoint_json = json{{"uri", answered}}.dump();
  return vm;
}

void MockVm::migration_send(std::string_view params_json) {
  backend_.slow();
  json params = check_send_params(params_json);
  std::shared_ptr<TlsRelay> relay;  // before any state changes: bad TLS files fail the call
  if (params.contains("tls")) {
    relay = std::make_shared<TlsRelay>(TlsRelay::Role::kSource,
                                       backend_common::parse_migration_tls(params["tls"]),
                                       "unix:", params["uri"].get<std::string>());
  }
  auto lock = lock_alive("migration_send");
  VmRecord &r = *record_;
  if (r.tdx)
    throw Failure(HAL_UNSUPPORTED,
                  "migration_send: VM '" + r.id + "' is a TDX guest; TDX VMs cannot migrate");
  if (r.state != HAL_VM_STATE_RUNNING && r.state != HAL_VM_STATE_PAUSED)
    throw Failure(HAL_FAILED_PRECONDITION, "migration_send: VM '" + r.id + "' is " +
                                               state_name(r.state) +
                                               "; only Running or Paused "
                                               "VMs migrate");
  bool busy = false;
  if (r.migration) {
    std::lock_guard job_lock(r.migration->mu);
    busy = !r.migration->finished;
  }
  if (busy)
    throw Failure(HAL_FAILED_PRECONDITION,
                  "migration_send: a migration of '" + r.id + "' already runs");
  auto job = std::make_shared<MigrationJob>();
  job->role = "source";
  job->total_bytes = r.memory_bytes;
  r.migration = job;
  lock.unlock();
  backend_.track(job);
  MockBackend &backend = backend_;
  auto record = record_;
  backend_.spawn([&backend, record, job, params, relay] {
    run_outgoing(backend, record, job, params, relay);
  });
}

std::string MockVm::migration_progress() {
  std::shared_ptr<MigrationJob> job;
  {
    auto lock = lock_alive("migration_get_progress");
    job = record_->migration;
  }
  if (!job)
    return json{{"status", "none"}, {"transferredBytes", 0},     {"remainingBytes", 0},
                {"totalBytes", 0},  {"dirtyRateBytesPerSec", 0}, {"expectedDowntimeMs", 0}}
        .dump();
  return job->progress().dump();
}

void MockVm::migration_cancel() {
  backend_.slow();
  std::shared_ptr<MigrationJob> job;
  {
    auto lock = lock_alive("migration_cancel");
    job = record_->migration;
  }
  if (!job)
    throw Failure(HAL_FAILED_PRECONDITION,
                  "migration_cancel: no migration of '" + record_->id + "' is running");
  std::unique_lock job_lock(job->mu);
  if (job->finished)
    throw Failure(HAL_FAILED_PRECONDITION, "migration_cancel: no migration of '" + record_->id +
                                               "' is running (the last one " + job->status + ")");
  job->cancel = true;
  job->cv.wait_for(job_lock, std::chrono::seconds(10), [&] { return job->finished; });
  if (job->status == "completed")
    throw Failure(HAL_FAILED_PRECONDITION,
                  "migration_cancel: the migration completed before it could be cancelled");
}

void run_outgoing(MockBackend &backend, std::shared_ptr<VmRecord> record,
                  std::shared_ptr<MigrationJob> job, json params,
                  std::shared_ptr<backend_common::TlsRelay> relay) {
  const Config &config = backend.config();
  // Absent parameters fall back to the spec's migration policy, then to defaults.
  json policy;
  {
    std::lock_guard lock(record->mu);
    policy = json::parse(record->spec).value("migration", json::object());
  }
  policy.merge_patch(params);
  double mib_per_s = policy.value("bandwidthMiBps", 0.0);  // 0 = unlimited = the simulated link
  if (mib_per_s <= 0) mib_per_s = config.bandwidth_mib_per_s;
  const double bytes_per_ms = mib_per_s * 1048576.0 / 1000.0;
  uint64_t total = job->total_bytes;
  int64_t timeout_ms =
      policy.contains("timeoutMs")
          ? policy["timeoutMs"].get<int64_t>()
          : policy.value("completionTimeoutPerGiBSeconds", int64_t{150}) * 1000 *
                std::max<int64_t>(1, static_cast<int64_t>((total + (1ull << 30) - 1) >> 30));
  int64_t max_downtime = policy.value("maxDowntimeMs", int64_t{300});
  auto begin = Clock::now();
  auto deadline =
      timeout_ms > 0 ? begin + std::chrono::milliseconds(timeout_ms) : Clock::time_point::max();
  const std::string &fault = config.faults.migration;

  auto finish_source = [&](const std::string &status, const std::string &why) {
    job->finish(status, why);
    std::unique_lock lock(record->mu);
    std::vector<PendingEvent> events{
        {HAL_EVENT_MIGRATION_FINISHED, record->state, job->progress()}};
    backend.deliver(lock, record->id, events);
  };

  asio::io_context io;
  Stream::socket socket(io);
  bool frozen = false;
  bool was_running = false;
  try {
    std::string uri = params["uri"];
    boost::system::error_code ec;
    if (relay) {
      socket.connect(
          Stream::endpoint(asio::local::stream_protocol::endpoint(relay->listen_url().substr(5))),
          ec);
    } else {
      socket.connect(Stream::endpoint(resolve_tcp_uri(io, uri, false)), ec);
    }
    if (ec) throw std::runtime_error("connect " + uri + ": " + ec.message());
    socket.non_blocking(true);
    Wire wire(socket.native_handle(), job->cancel);
    wire.set_deadline(deadline);
    std::string header = json{{"vm", record->id}, {"totalBytes", total}}.dump();
    wire.send_frame('H', header.data(), header.size());
    {
      std::lock_guard lock(job->mu);
      job->status = "active";
    }
    std::vector<char> frame(8 + kPagePayload, 0);
    uint64_t sent = 0;
    auto last_event = Clock::now() - std::chrono::seconds(1);
    auto active_since = Clock::now();
    while (sent < total) {
      if (job->cancel) throw std::runtime_error("cancelled");
      if (Clock::now() > deadline)
        throw std::runtime_error("timed out after " + std::to_string(timeout_ms) + " ms");
      bool stalled = fault == "stall" && sent >= total / 2;
      if (fault == "fail" && sent >= total / 3)
        throw std::runtime_error("injected fault: faults.migration=fail (connection lost)");
      double elapsed_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - active_since).count();
      uint64_t allowed = static_cast<uint64_t>(elapsed_ms * bytes_per_ms);
      if (!stalled && allowed > sent) {
        uint64_t chunk = std::min<uint64_t>({allowed - sent, total - sent, 64ull << 20});
        put_u64(frame.data(), chunk);
        wire.send_frame('D', frame.data(), frame.size());
        sent += chunk;
      }
      bool running;
      {
        std::lock_guard lock(record->mu);
        running = record->run_since_ms != 0;
      }
      {
        std::lock_guard lock(job->mu);
        job->transferred_bytes = sent;
        job->dirty_rate = running ? record->memory_bytes / 100 : 0;
        job->expected_downtime_ms = std::min<int64_t>(max_downtime, running ? 25 : 5);
      }
      if (Clock::now() - last_event >= std::chrono::milliseconds(50)) {
        last_event = Clock::now();
        migration_event(backend, *record, HAL_EVENT_MIGRATION_PROGRESS, job->progress());
      }
      if (sent < total) std::this_thread::sleep_for(std::chrono::milliseconds(stalled ? 10 : 5));
    }
    // Hand over: freeze the guest, send its state, wait for the target to run it.
    auto stop_at = Clock::now();
    json guest;
    {
      std::lock_guard lock(record->mu);
      if (record->deleted ||
          (record->state != HAL_VM_STATE_RUNNING && record->state != HAL_VM_STATE_PAUSED))
        throw std::runtime_error(std::string("source VM became ") + state_name(record->state));
      if (job->cancel) throw std::runtime_error("cancelled");
      was_running = record->run_since_ms != 0;
      record->clock_stop();
      frozen = true;
      guest = {{"bootCount", record->boot_count},
               {"runMs", record->run_accum_ms},
               {"bootAtRunMs", record->boot_at_run_ms},
               {"downtimeSoFarMs", 0}};
    }
    std::string text = guest.dump();
    wire.send_frame('F', text.data(), text.size());
    // Past this point the target may already run the guest: a cancel is no longer honoured.
    std::string payload;
    std::atomic<bool> no_cancel{false};
    Wire ack_wire(socket.native_handle(), no_cancel);
    ack_wire.set_deadline(Clock::now() + std::chrono::seconds(10));
    if (ack_wire.recv_frame(payload) != 'A') throw std::runtime_error("protocol: expected ack");
    {
      std::unique_lock lock(record->mu);
      {
        std::lock_guard job_lock(job->mu);
        job->downtime_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stop_at).count();
        job->transferred_bytes = total;
      }
      job->finish("completed", "");
      std::vector<PendingEvent> events;
      if (!record->deleted)
        backend.set_state(*record, HAL_VM_STATE_MIGRATED, "migration completed", events);
      events.push_back({HAL_EVENT_MIGRATION_FINISHED, record->state, job->progress()});
      backend.deliver(lock, record->id, events);
    }
  } catch (const std::exception &e) {
    boost::system::error_code ignored;
    socket.close(ignored);  // the target sees the connection drop and tears itself down
    if (frozen) {
      std::lock_guard lock(record->mu);
      if (was_running && record->state == HAL_VM_STATE_RUNNING) record->clock_start();
    }
    bool cancelled = job->cancel.load();
    // A refused TLS handshake shows as a closed connection here; the relay knows why.
    const std::string why =
        relay && relay->wait_finished(std::chrono::seconds(2)) && !relay->error().empty()
            ? relay->error() + " (" + e.what() + ")"
            : std::string(e.what());
    finish_source(cancelled ? "cancelled" : "failed", why);
  }
}

}  // namespace hal::mock
