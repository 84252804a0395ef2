// capturing_relay.h - a TCP relay for tests that must see what crosses the wire: it accepts one
// connection on loopback, connects it to a destination and copies both ways, keeping the first
// bytes that flowed towards the destination and looking for a byte pattern anywhere in that
// direction's whole stream (e.g. QEMU's migration magic), so a test can tell a clear stream from
// an encrypted one.
#ifndef HAL_CONTROLLER_NODE_TESTS_CAPTURING_RELAY_H
#define HAL_CONTROLLER_NODE_TESTS_CAPTURING_RELAY_H

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hal::node::testing {

/** One relayed connection: 127.0.0.1:port() -> `host`:`port`. */
class CapturingRelay {
 public:
  /** Listens on 127.0.0.1 (any port) and relays the first connection to `host`:`port`,
   *  watching the forward direction for each of `patterns`. Throws std::runtime_error. */
  CapturingRelay(const std::string &host, int port, std::vector<std::string> patterns);
  /** Stops relaying (cuts the connections) and joins. */
  ~CapturingRelay();
  CapturingRelay(const CapturingRelay &) = delete;
  CapturingRelay &operator=(const CapturingRelay &) = delete;

  /** The port it listens on. */
  int port() const { return port_; }
  /** Bytes relayed towards the destination so far. */
  uint64_t forwarded() const { return forwarded_.load(); }
  /** The first (up to 64 KiB) bytes relayed towards the destination. */
  std::string head() const;
  /** Offsets in the forward stream where patterns[index] was seen (the first 16). */
  std::vector<uint64_t> found(size_t index) const;

 private:
  void run(int destination_port, std::string host);
  void scan(const char *data, size_t size);

  std::vector<std::string> patterns_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<uint64_t> forwarded_{0};
  mutable std::mutex mutex_;
  std::string head_;
  std::string tail_;  // the last bytes of the stream, to find a pattern across two reads
  std::vector<std::vector<uint64_t>> found_;
  std::thread thread_;
};

}  // namespace hal::node::testing

#endif  // HAL_CONTROLLER_NODE_TESTS_CAPTURING_RELAY_H
