// console.h - the emulator's serial port back ends, as Cloud Hypervisor's console devices and
// serial manager behave (v45.0 to v53.0): Socket mode binds its path without removing a leftover
// file (so a stale socket is "Address in use") and removes it only when the VM is dropped
// cleanly; one client at a time (a new connection closes the previous one); output produced
// while nobody is connected is dropped up to v52, and from v53.0 kept in a 1 MiB ring that the
// next client receives once. File mode appends, Tty writes to stdout, Null/Off discard.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONSOLE_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONSOLE_H

#include <mutex>
#include <string>
#include <thread>

namespace hal::ch_emulator {

/** Where the emulated guest's serial output goes. Thread-safe. */
class SerialPort {
 public:
  /** A port for VmConfig.serial `mode` with its `path` (socket or file, relative paths from the
   *  working directory); `buffer_detached` keeps output made while no client is connected for
   *  the next one (v53.0 on). Throws std::runtime_error when the socket cannot be bound (a file
   *  at the path: "Address already in use") or the file cannot be opened. */
  SerialPort(const std::string &mode, const std::string &path, bool buffer_detached);
  /** Closes the client and removes the socket file (the VM is dropped cleanly). */
  ~SerialPort();
  SerialPort(const SerialPort &) = delete;
  SerialPort &operator=(const SerialPort &) = delete;

  /** Writes one line (a '\n' is appended). */
  void write_line(const std::string &line);

 private:
  void accept_loop();
  void send_locked(const std::string &text);

  std::string mode_;
  std::string path_;
  bool buffer_detached_;
  int listen_fd_ = -1;
  int file_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mutex_;
  int client_ = -1;     // the one connected client
  std::string buffer_;  // output while detached (v53.0 on), at most kRing bytes
  std::thread acceptor_;
};

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONSOLE_H
