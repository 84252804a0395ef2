// QemuProcess: starts qemu-system-x86_64 (argv, no shell, own process group) with a QMP socket in
// a private temp dir, and stops it by its PID. For integration tests and benchmarks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace hal::kvm_qemu::testing {

// The QEMU binary to use: $HAL_QEMU, else qemu-system-x86_64 from PATH; "" if none is found.
std::string FindQemuBinary();

// A running QEMU with -qmp unix:<tmp>/qmp.sock,server=on,wait=off plus the caller's arguments.
class QemuProcess {
 public:
  // Spawns `binary` with the QMP option followed by `extra_args`; stdout/stderr go to a log file.
  // Throws std::runtime_error if the spawn fails.
  QemuProcess(const std::string &binary, const std::vector<std::string> &extra_args);
  // Stops the process (if still running) and removes the temp dir.
  ~QemuProcess();
  QemuProcess(const QemuProcess &) = delete;
  QemuProcess &operator=(const QemuProcess &) = delete;

  // Path of the QMP socket.
  const std::string &qmp_path() const { return qmp_path_; }
  // Process id.
  pid_t pid() const { return pid_; }
  // Waits up to `timeout` for the process to exit; returns true (and reaps it) if it did.
  bool WaitForExit(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after 5 s, to this PID only; reaps it. Idempotent.
  void Stop();
  // Exit status from waitpid (valid after WaitForExit/Stop returned true).
  int wait_status() const { return status_; }
  // Contents of QEMU's stdout/stderr log so far.
  std::string Log() const;

 private:
  std::string dir_;
  std::string qmp_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace hal::kvm_qemu::testing
