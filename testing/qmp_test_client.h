// qmp_test_client.h - a small synchronous QMP client over a Unix socket (Boost.Asio and
// nlohmann/json) for tests and benchmarks that drive a QEMU they started themselves: connect
// (waiting for QEMU to create the socket), the handshake, and commands one at a time. It is not
// the kvm-qemu backend's client, so a baseline measured with it owes nothing to HAL's code.
#ifndef HAL_TESTING_QMP_TEST_CLIENT_H
#define HAL_TESTING_QMP_TEST_CLIENT_H

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace hal::testing {

/** One QMP connection. Not thread-safe: one caller at a time. Events are skipped. */
class QmpTestClient {
 public:
  /** Connects to `socket_path`, retrying every 10 ms while it is missing or refused (QEMU
   *  starting), reads the greeting and sends qmp_capabilities, all within `timeout`. Throws
   *  std::runtime_error saying what failed. */
  static std::unique_ptr<QmpTestClient> connect(const std::filesystem::path &socket_path,
                                                std::chrono::milliseconds timeout);
  ~QmpTestClient();
  QmpTestClient(const QmpTestClient &) = delete;
  QmpTestClient &operator=(const QmpTestClient &) = delete;

  /** Sends `command` (with `arguments` unless null) and returns its "return" value. Throws
   *  std::runtime_error on an "error" reply (with its class and description), a closed
   *  connection or no reply within `timeout`. */
  nlohmann::json execute(const std::string &command, const nlohmann::json &arguments = nullptr,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /** The greeting's QEMU version, "major.minor.micro". */
  const std::string &qemu_version() const { return qemu_version_; }

 private:
  QmpTestClient();
  nlohmann::json read_message(std::chrono::steady_clock::time_point deadline);

  boost::asio::io_context io_;
  boost::asio::local::stream_protocol::socket socket_;
  std::string buffer_;
  std::array<char, 4096> chunk_{};
  std::string qemu_version_;
};

}  // namespace hal::testing

#endif  // HAL_TESTING_QMP_TEST_CLIENT_H
