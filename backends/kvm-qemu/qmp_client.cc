// QmpClient implementation: one Asio I/O thread reads the socket, callers write their command
// directly and wait on a promise keyed by the command id, a dispatch thread delivers events.
#include "backends/kvm-qemu/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "backends/kvm-qemu/qmp_framing.h"

namespace hal::kvm_qemu {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

QmpCommandError::QmpCommandError(const std::string &command, std::string error_class,
                                 std::string desc)
    : QmpException("QMP command '" + command + "' failed: " + error_class + ": " + desc),
      class_(std::move(error_class)),
      desc_(std::move(desc)) {}

class QmpClient::Impl {
 public:
  explicit Impl(QmpClient::Options options)
      : options_(std::move(options)), framer_(options_.max_message_bytes) {}

  ~Impl() {
    close("QMP client destroyed");
    if (dispatch_thread_.joinable()) {
      if (dispatch_thread_.get_id() == std::this_thread::get_id()) {
        dispatch_thread_.detach();  // destroyed from an event callback: documented as not allowed
      } else {
        dispatch_thread_.join();
      }
    }
  }

  void Open(const std::string &path, Clock::time_point deadline) {
    asio::local::stream_protocol::endpoint endpoint;
    try {
      endpoint = asio::local::stream_protocol::endpoint(path);
    } catch (const std::exception &e) {
      throw QmpConnectionError("invalid QMP socket path '" + path + "': " + e.what());
    }
    for (;;) {
      boost::system::error_code ec;
      socket_.connect(endpoint, ec);
      if (!ec) break;
      boost::system::error_code ignored;
      socket_.close(ignored);  // reopened by the next connect
      bool retryable = ec == asio::error::connection_refused ||
                       ec == boost::system::errc::no_such_file_or_directory;
      if (!retryable || Clock::now() >= deadline) {
        throw QmpConnectionError("cannot connect to QMP socket '" + path + "': " + ec.message());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fd_ = socket_.native_handle();
    StartRead();
    io_thread_ = std::thread([this] { io_.run(); });
    dispatch_thread_ = std::thread([this] { DispatchLoop(); });
    std::future<void> greeting = greeting_promise_.get_future();
    if (greeting.wait_until(deadline) == std::future_status::timeout) {
      close("no QMP greeting");
      throw QmpTimeoutError("no QMP greeting from '" + path + "' within the connect timeout");
    }
    greeting.get();  // rethrows a connection failure
  }

  json execute(const std::string &command, const json &args, std::chrono::milliseconds timeout) {
    auto pending = std::make_shared<Pending>();
    pending->command = command;
    std::future<json> reply = pending->promise.get_future();
    std::string id;
    {
      std::lock_guard lock(mu_);
      if (closed_) throw QmpConnectionError("QMP connection closed: " + close_reason_);
      pending->slot = AllocateSlot();
      id = QmpCommandId(pending->slot);
      pending_.emplace(id, pending);
    }
    std::string line;
    try {
      line = EncodeQmpCommand(command, args, id);
    } catch (const std::exception &e) {
      std::lock_guard lock(mu_);
      pending_.erase(id);
      slot_used_[pending->slot] = false;
      throw QmpException("cannot encode QMP command '" + command + "': " + e.what());
    }
    constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24 * 365);  // no overflow
    Clock::time_point deadline = Clock::now() + std::min(timeout, kMaxTimeout);
    Send(line, deadline);
    if (reply.wait_until(deadline) == std::future_status::timeout) {
      std::lock_guard lock(mu_);
      if (pending_.erase(id) > 0) {
        // Its id stays taken until the late reply arrives (or forever), so a late reply is never
        // mistaken for the reply of a later command that reuses the slot.
        abandoned_.emplace(id, pending->slot);
        throw QmpTimeoutError("QMP command '" + command + "' timed out after " +
                              std::to_string(timeout.count()) + " ms");
      }
      // The reply won the race: its value is being (or has been) set; get() below returns it.
    }
    return reply.get();
  }

  QmpClient::SubscriptionId subscribe(const std::string &name, EventHandler handler) {
    std::lock_guard lock(sub_mu_);
    SubscriptionId id = ++next_subscription_;
    subscribers_.emplace(id, Subscriber{name, std::make_shared<EventHandler>(std::move(handler))});
    return id;
  }

  void unsubscribe(SubscriptionId id) {
    std::lock_guard lock(sub_mu_);
    subscribers_.erase(id);
  }

  // Fails everything pending, stops the I/O thread and closes the socket. Idempotent.
  void close(const std::string &reason) {
    FailAll(reason);
    std::lock_guard lock(close_mu_);
    ShutdownSocket();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    CloseSocket();
    {
      std::lock_guard qlock(event_mu_);
      stop_dispatch_ = true;
    }
    event_cv_.notify_all();
  }

  const json &greeting() const { return greeting_; }

  bool connected() const {
    std::lock_guard lock(mu_);
    return !closed_;
  }

  std::string close_reason() const {
    std::lock_guard lock(mu_);
    return close_reason_;
  }

  std::uint64_t unmatched_replies() const { return unmatched_.load(); }

 private:
  struct Pending {
    std::string command;
    std::uint64_t slot = 0;  // the id's slot in slot_used_
    std::promise<json> promise;
  };
  struct Subscriber {
    std::string name;
    std::shared_ptr<EventHandler> handler;
  };

  // --- I/O thread ---------------------------------------------------------------------------

  void StartRead() {
    socket_.async_read_some(asio::buffer(read_buffer_), [this](const boost::system::error_code &ec,
                                                               std::size_t n) { OnRead(ec, n); });
  }

  void OnRead(const boost::system::error_code &ec, std::size_t n) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      FailAndClose(ec == asio::error::eof ? "connection closed by the QMP server"
                                          : "read error: " + ec.message());
      return;
    }
    std::string error;
    bool ok = framer_.Feed(std::string_view(read_buffer_.data(), n), [&](std::string_view line) {
      if (error.empty()) HandleLine(line, &error);
    });
    if (!ok) {
      FailAndClose("QMP message larger than " + std::to_string(options_.max_message_bytes) +
                   " bytes");
      return;
    }
    if (!error.empty()) {
      FailAndClose(error);
      return;
    }
    StartRead();
  }

  void HandleLine(std::string_view line, std::string *error) {
    std::string parse_error;
    std::optional<QmpMessage> msg = ParseQmpMessage(line, &parse_error);
    if (!msg) {
      constexpr std::size_t kShown = 80;
      *error = "malformed QMP message (" + parse_error + "): '" +
               std::string(line.substr(0, kShown)) + (line.size() > kShown ? "...'" : "'");
      return;
    }
    switch (msg->kind) {
      case QmpMessage::Kind::kGreeting: {
        std::unique_lock lock(mu_);
        if (greeting_received_) return;  // a repeated greeting is ignored
        greeting_received_ = true;
        greeting_ = std::move(msg->payload);
        lock.unlock();
        greeting_promise_.set_value();
        return;
      }
      case QmpMessage::Kind::kReturn:
      case QmpMessage::Kind::kError: {
        std::shared_ptr<Pending> pending;
        if (msg->id) {
          std::lock_guard lock(mu_);
          if (auto it = pending_.find(*msg->id); it != pending_.end()) {
            pending = std::move(it->second);
            pending_.erase(it);
            slot_used_[pending->slot] = false;
          } else if (auto late = abandoned_.find(*msg->id); late != abandoned_.end()) {
            slot_used_[late->second] = false;  // the late reply of a timed-out command
            abandoned_.erase(late);
          }
        }
        if (!pending) {
          ++unmatched_;
          return;
        }
        if (msg->kind == QmpMessage::Kind::kReturn) {
          pending->promise.set_value(std::move(msg->payload));
        } else {
          pending->promise.set_exception(std::make_exception_ptr(QmpCommandError(
              pending->command, std::move(msg->error_class), std::move(msg->error_desc))));
        }
        return;
      }
      case QmpMessage::Kind::kEvent: {
        {
          std::lock_guard lock(event_mu_);
          events_.push_back(
              QmpEvent{std::move(msg->event), std::move(msg->payload), std::move(msg->timestamp)});
        }
        event_cv_.notify_one();
        return;
      }
    }
  }

  void FailAndClose(const std::string &reason) {
    FailAll(reason);
    ShutdownSocket();
    CloseSocket();
  }

  // --- any thread ---------------------------------------------------------------------------

  // Writes one command line from the calling thread (no hop to the I/O thread: lower latency).
  // Concurrent senders are serialised by write_mu_, so lines never interleave. A failed or
  // partial write breaks the stream, so it fails the whole connection.
  void Send(const std::string &line, Clock::time_point deadline) {
    std::lock_guard lock(write_mu_);
    if (fd_ < 0) return;  // closed: FailAll already failed the pending command
    std::size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
          if (off == 0) return;  // nothing written: the caller just times out
          FailAll("write timed out with a partially sent command");
          ::shutdown(fd_, SHUT_RDWR);
          return;
        }
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1000)));
        continue;
      }
      FailAll(std::string("write error: ") + std::strerror(n < 0 ? errno : EPIPE));
      ::shutdown(fd_, SHUT_RDWR);  // wakes the I/O thread, which then closes the socket
      return;
    }
  }

  // Wakes every blocked reader/writer without releasing the descriptor. Any thread.
  void ShutdownSocket() {
    std::lock_guard lock(fd_mu_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

  // Releases the descriptor once no sender uses it. I/O thread, or any thread once it stopped.
  void CloseSocket() {
    std::scoped_lock lock(write_mu_, fd_mu_);
    fd_ = -1;
    boost::system::error_code ec;
    socket_.close(ec);
  }

  // Marks the connection closed and fails every pending command (and a pending greeting).
  void FailAll(const std::string &reason) {
    std::unordered_map<std::string, std::shared_ptr<Pending>> failed;
    bool fail_greeting = false;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      close_reason_ = reason;
      failed.swap(pending_);
      fail_greeting = !greeting_received_;
      greeting_received_ = true;
    }
    for (auto &[id, pending] : failed) {
      pending->promise.set_exception(std::make_exception_ptr(QmpConnectionError(
          "QMP command '" + pending->command + "' failed: connection lost: " + reason)));
    }
    if (fail_greeting) {
      greeting_promise_.set_exception(
          std::make_exception_ptr(QmpConnectionError("QMP handshake failed: " + reason)));
    }
  }

  // The lowest free id slot, marked used. Caller holds mu_.
  std::uint64_t AllocateSlot() {
    auto it = std::find(slot_used_.begin(), slot_used_.end(), false);
    const auto slot = static_cast<std::uint64_t>(it - slot_used_.begin());
    if (it == slot_used_.end()) {
      slot_used_.push_back(true);
    } else {
      *it = true;
    }
    return slot;
  }

  // --- dispatch thread ----------------------------------------------------------------------

  void DispatchLoop() {
    for (;;) {
      QmpEvent event;
      {
        std::unique_lock lock(event_mu_);
        event_cv_.wait(lock, [this] { return stop_dispatch_ || !events_.empty(); });
        if (stop_dispatch_) return;
        event = std::move(events_.front());
        events_.pop_front();
      }
      std::vector<std::shared_ptr<EventHandler>> handlers;
      {
        std::lock_guard lock(sub_mu_);
        for (const auto &[id, sub] : subscribers_) {
          if (sub.name.empty() || sub.name == event.name) handlers.push_back(sub.handler);
        }
      }
      for (const auto &handler : handlers) {
        try {
          (*handler)(event);
        } catch (...) {
          // A throwing subscriber must not take the client down; the exception is dropped.
        }
      }
    }
  }

  QmpClient::Options options_;
  asio::io_context io_;
  asio::local::stream_protocol::socket socket_{io_};
  std::thread io_thread_;
  std::thread dispatch_thread_;
  std::mutex close_mu_;

  // The socket's descriptor for direct sends; -1 once closed. Written under write_mu_ + fd_mu_.
  std::mutex write_mu_;
  std::mutex fd_mu_;
  int fd_ = -1;

  // I/O thread only.
  std::array<char, 64 * 1024> read_buffer_{};
  QmpLineFramer framer_;

  // Connection state, guarded by mu_.
  mutable std::mutex mu_;
  bool closed_ = false;
  std::string close_reason_;
  bool greeting_received_ = false;
  json greeting_;
  std::promise<void> greeting_promise_;
  // Command ids are slots (QmpCommandId): the lowest one not used by a pending command or by a
  // timed-out command whose reply has not arrived, so ids stay one or two bytes long.
  std::vector<bool> slot_used_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  std::unordered_map<std::string, std::uint64_t> abandoned_;  // timed out: id -> slot
  std::atomic<std::uint64_t> unmatched_{0};

  // Events, guarded by event_mu_.
  std::mutex event_mu_;
  std::condition_variable event_cv_;
  std::deque<QmpEvent> events_;
  bool stop_dispatch_ = false;

  // Subscribers, guarded by sub_mu_.
  std::mutex sub_mu_;
  SubscriptionId next_subscription_ = 0;
  std::unordered_map<SubscriptionId, Subscriber> subscribers_;
};

std::unique_ptr<QmpClient> QmpClient::connect(const std::string &socket_path) {
  return connect(socket_path, Options{});
}

std::unique_ptr<QmpClient> QmpClient::connect(const std::string &socket_path, Options options) {
  Clock::time_point deadline = Clock::now() + options.connect_timeout;
  std::vector<std::string> caps = options.enable_capabilities;
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->Open(socket_path, deadline);
  json args = caps.empty() ? json(nullptr) : json{{"enable", caps}};
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  impl->execute("qmp_capabilities", args, std::max(remaining, std::chrono::milliseconds(1)));
  return std::unique_ptr<QmpClient>(new QmpClient(std::move(impl)));
}

QmpClient::QmpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

QmpClient::~QmpClient() = default;

json QmpClient::execute(const std::string &command, const json &args,
                        std::chrono::milliseconds timeout) {
  return impl_->execute(command, args, timeout);
}

QmpClient::SubscriptionId QmpClient::subscribe(const std::string &event_name,
                                               EventHandler handler) {
  return impl_->subscribe(event_name, std::move(handler));
}

void QmpClient::unsubscribe(SubscriptionId id) {
  impl_->unsubscribe(id);
}

const json &QmpClient::greeting() const {
  return impl_->greeting();
}

std::string QmpClient::qemu_version() const {
  const json &q = impl_->greeting();
  auto v = q.find("version");
  if (v == q.end() || !v->is_object()) return "";
  auto qemu = v->find("qemu");
  if (qemu == v->end() || !qemu->is_object()) return "";
  auto part = [&](const char *key) {
    auto it = qemu->find(key);
    return it != qemu->end() && it->is_number_integer() ? std::to_string(it->get<long long>())
                                                        : std::string("0");
  };
  return part("major") + "." + part("minor") + "." + part("micro");
}

bool QmpClient::connected() const {
  return impl_->connected();
}

std::string QmpClient::close_reason() const {
  return impl_->close_reason();
}

std::uint64_t QmpClient::unmatched_replies() const {
  return impl_->unmatched_replies();
}

void QmpClient::close() {
  impl_->close("closed by the client");
}

}  // namespace hal::kvm_qemu
