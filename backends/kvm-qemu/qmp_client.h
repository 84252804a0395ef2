// QmpClient: a thread-safe QEMU Machine Protocol client over a Unix socket (Boost.Asio).
//
// Threading: one internal I/O thread reads the socket; execute() may be called from any number of
// threads at once: it writes its command itself (serialised by a mutex), and the reply is matched
// by the command's unique "id", so replies may arrive in any order. Events are delivered on a
// separate internal dispatch thread, one at a time and in arrival order, so a subscriber may call
// execute() from its callback (it must not destroy the client from there). Failure: a closed
// socket, malformed JSON or a line over Options::max_message_bytes fails every pending and later
// command with QmpConnectionError; the client never crashes or hangs on it.
#ifndef HAL_BACKENDS_KVM_QEMU_QMP_CLIENT_H
#define HAL_BACKENDS_KVM_QEMU_QMP_CLIENT_H

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace hal::kvm_qemu {

// Base of every error thrown by QmpClient.
class QmpException : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// QEMU answered a command with {"error": {"class": ..., "desc": ...}}.
class QmpCommandError : public QmpException {
 public:
  // Builds the error for `command` from QEMU's error class and description.
  QmpCommandError(const std::string &command, std::string error_class, std::string desc);
  // QMP error class, e.g. "GenericError", "CommandNotFound", "DeviceNotFound".
  const std::string &error_class() const { return class_; }
  // Human-readable description from QEMU.
  const std::string &desc() const { return desc_; }

 private:
  std::string class_;
  std::string desc_;
};

// No reply arrived within the timeout (the connection stays usable; a late reply is dropped).
class QmpTimeoutError : public QmpException {
 public:
  using QmpException::QmpException;
};

// Connecting failed, or the connection is closed/broken (EOF, I/O error, malformed or oversized
// message, close()). what() says which.
class QmpConnectionError : public QmpException {
 public:
  using QmpException::QmpException;
};

// An asynchronous QMP event.
struct QmpEvent {
  std::string name;          // e.g. "STOP", "RESUME", "SHUTDOWN"
  nlohmann::json data;       // the event's "data" (null if none)
  nlohmann::json timestamp;  // {"seconds": s, "microseconds": us} (null if none)
};

// A connected, capabilities-negotiated QMP session.
class QmpClient {
 public:
  // Tunables for connect().
  struct Options {
    // How long to keep retrying connect() while the socket is missing/refused (QEMU starting),
    // then how long to wait for the greeting and the qmp_capabilities reply.
    std::chrono::milliseconds connect_timeout{5000};
    // Largest accepted server message (one line); bigger fails the connection.
    std::size_t max_message_bytes = 32u << 20;
    // Capabilities to enable in qmp_capabilities (e.g. {"oob"}); empty enables none.
    std::vector<std::string> enable_capabilities;
  };

  // Callback for events; runs on the client's dispatch thread.
  using EventHandler = std::function<void(const QmpEvent &)>;
  // Handle returned by subscribe().
  using SubscriptionId = std::uint64_t;

  // Connects to the QMP Unix socket at `socket_path`, reads the greeting and performs the
  // qmp_capabilities handshake. Throws QmpConnectionError / QmpTimeoutError / QmpCommandError.
  static std::unique_ptr<QmpClient> connect(const std::string &socket_path, Options options);
  // Same, with default options.
  static std::unique_ptr<QmpClient> connect(const std::string &socket_path);

  // Closes the connection (fails pending commands) and joins the internal threads.
  ~QmpClient();
  QmpClient(const QmpClient &) = delete;
  QmpClient &operator=(const QmpClient &) = delete;

  // Runs `command` with `args` (null = no arguments) and returns its "return" value. Thread-safe.
  // Throws QmpCommandError (QEMU error reply), QmpTimeoutError, QmpConnectionError.
  nlohmann::json execute(const std::string &command, const nlohmann::json &args = nullptr,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Calls `handler` for every event named `event_name` ("" = every event). Thread-safe.
  SubscriptionId subscribe(const std::string &event_name, EventHandler handler);
  // Stops deliveries to a subscription (a delivery already running may still finish).
  void unsubscribe(SubscriptionId id);

  // The greeting's "QMP" object: {"version": {...}, "capabilities": [...]}.
  const nlohmann::json &greeting() const;
  // QEMU version from the greeting as "major.minor.micro".
  std::string qemu_version() const;
  // False once the connection is closed or broken.
  bool connected() const;
  // Why the connection closed ("" while connected).
  std::string close_reason() const;
  // Replies whose id matched no pending command (late replies after a timeout, foreign ids).
  std::uint64_t unmatched_replies() const;

  // Closes the connection: pending and later execute() calls fail with QmpConnectionError.
  // Idempotent; may be called from any thread, including an event callback.
  void close();

 private:
  class Impl;
  explicit QmpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_QMP_CLIENT_H
