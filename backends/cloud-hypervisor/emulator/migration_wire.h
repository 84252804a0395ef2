// migration_wire.h - how two hal-ch-emulator processes migrate a VM: a socket connection to a
// "unix:/path" or "tcp:host:port" URL, a header line with the VM config, guest memory sent in
// length-prefixed chunks over three passes (full copy, dirty pages, stop-and-copy), the guest
// state line, and a one-byte acknowledgement from the target once it runs the VM.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_MIGRATION_WIRE_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_MIGRATION_WIRE_H

#include <chrono>
#include <cstdint>
#include <string>

namespace hal::ch_emulator {

/** A connected or listening socket (owned fd; closed on destruction). */
class Socket {
 public:
  Socket() = default;
  /** Takes ownership of `fd`. */
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket &&other) noexcept : fd_(other.release()) {}
  Socket &operator=(Socket &&other) noexcept;
  /** The descriptor (-1 when none). */
  int fd() const { return fd_; }
  /** Gives the descriptor up. */
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/** Connects to a "unix:PATH" or "tcp:HOST:PORT" URL; throws std::runtime_error. */
Socket connect_url(const std::string &url);
/** Listens on a "unix:PATH" or "tcp:HOST:PORT" URL; throws std::runtime_error. */
Socket listen_url(const std::string &url);
/** Waits for a connection on `listener`, giving up when `abort_fd` becomes readable or
 *  `timeout` passes; throws std::runtime_error. */
Socket accept_connection(const Socket &listener, int abort_fd, std::chrono::seconds timeout);

/** Sets send and receive timeouts on a connected socket. */
void set_io_timeout(const Socket &socket, std::chrono::seconds timeout);
/** Writes all of `data`; throws std::runtime_error. */
void write_all(const Socket &socket, const void *data, size_t size);
/** Reads exactly `size` bytes; throws std::runtime_error (also at EOF). */
void read_exact(const Socket &socket, void *data, size_t size);
/** Writes `line` and a '\n'. */
void write_line(const Socket &socket, const std::string &line);
/** Reads up to '\n' (at most `max` bytes); throws std::runtime_error. */
std::string read_line(const Socket &socket, size_t max = 16u << 20);
/** Sends `bytes` of simulated guest memory as chunks, then the zero-length end-of-pass chunk. */
void send_pass(const Socket &socket, uint64_t bytes);
/** Receives one pass; answers the bytes received. */
uint64_t receive_pass(const Socket &socket);

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_MIGRATION_WIRE_H
