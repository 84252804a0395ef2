// console.h - the emulator's serial port back end: Socket mode (a Unix socket; every client gets
// the current boot's output so far, then live lines), File mode (appended), Tty (stdout), Null/Off.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONSOLE_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONSOLE_H

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hal::ch_emulator {

/** Where the emulated guest's serial output goes. Thread-safe. */
class SerialPort {
 public:
  /** A port for VmConfig.serial `mode` with its `path` (socket or file); throws
   *  std::runtime_error when the socket or file cannot be created. */
  SerialPort(const std::string &mode, const std::string &path);
  /** Closes clients and removes the socket file. */
  ~SerialPort();
  SerialPort(const SerialPort &) = delete;
  SerialPort &operator=(const SerialPort &) = delete;

  /** Writes one line (a '\n' is appended). */
  void write_line(const std::string &line);
  /** Forgets the history replayed to new clients (a new boot starts). */
  void new_boot();

 private:
  void accept_loop();

  std::string mode_;
  std::string path_;
  int listen_fd_ = -1;
  unsigned long inode_ = 0;  // of the socket file we bound: unlink only that one
  int file_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mutex_;
  std::vector<int> clients_;
  std::string history_;
  std::thread acceptor_;
};

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONSOLE_H
