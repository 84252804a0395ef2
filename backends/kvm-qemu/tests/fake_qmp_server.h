// FakeQmpServer: a scripted QMP server on a Unix socket in a private temp dir, for client tests.
#ifndef HAL_BACKENDS_KVM_QEMU_TESTS_FAKE_QMP_SERVER_H
#define HAL_BACKENDS_KVM_QEMU_TESTS_FAKE_QMP_SERVER_H

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "testing/temp_dir.h"

namespace hal::kvm_qemu::testing {

// One accepted connection, used from the server script (blocking I/O).
class FakeQmpConnection {
 public:
  explicit FakeQmpConnection(int fd) : fd_(fd) {}
  // Sends raw bytes (no newline added). Returns false if the peer is gone.
  bool SendRaw(const std::string &bytes);
  // Sends a JSON value followed by "\r\n", as QEMU does.
  bool Send(const nlohmann::json &message) { return SendRaw(message.dump() + "\r\n"); }
  // Sends the standard QEMU 7.2 greeting.
  bool SendGreeting();
  // Reads one JSON line; nullopt on EOF/error/timeout (timeout_ms).
  std::optional<nlohmann::json> ReadMessage(int timeout_ms = 5000);
  // Reads the qmp_capabilities command and acknowledges it. Returns false on failure.
  bool Handshake();
  // Closes the connection.
  void close();

 private:
  int fd_;
  std::string buffer_;
};

// Listens on <tmpdir>/qmp.sock and runs `script` on the first accepted connection in a thread.
class FakeQmpServer {
 public:
  // Starts listening and the server thread.
  explicit FakeQmpServer(std::function<void(FakeQmpConnection &)> script);
  // Joins the server thread, closes sockets and removes the temp dir.
  ~FakeQmpServer();
  // Path of the listening socket.
  const std::string &path() const { return path_; }

 private:
  hal::testing::TempDir dir_{"hal-fakeqmp-"};
  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
};

}  // namespace hal::kvm_qemu::testing

#endif  // HAL_BACKENDS_KVM_QEMU_TESTS_FAKE_QMP_SERVER_H
