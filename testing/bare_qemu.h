// bare_qemu.h - a qemu-system-x86_64 a test or benchmark starts by itself, with no HAL in the
// way (argv, no shell, its own process group), its QMP socket and output log in a private temp
// dir; stopped by its PID. For tests of QMP clients and the guest, and for baselines.
#ifndef HAL_TESTING_BARE_QEMU_H
#define HAL_TESTING_BARE_QEMU_H

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "testing/child_process.h"
#include "testing/temp_dir.h"

namespace hal::testing {

/** The QEMU binary to use: $HAL_QEMU, else qemu-system-x86_64 from PATH; "" if none is found. */
std::string find_qemu_binary();

/** A running QEMU with -qmp unix:<tmp>/qmp.sock,server=on,wait=off plus the caller's arguments. */
class BareQemu {
 public:
  /** Spawns `binary` with the QMP option followed by `extra_args`; stdout and stderr go to a log
   *  file. Throws std::runtime_error if the spawn fails. */
  BareQemu(const std::string &binary, const std::vector<std::string> &extra_args);
  /** Stops the process (if still running) and removes the temp dir. */
  ~BareQemu();
  BareQemu(const BareQemu &) = delete;
  BareQemu &operator=(const BareQemu &) = delete;

  /** Path of the QMP socket. */
  const std::string &qmp_path() const { return qmp_path_; }
  /** Process id. */
  pid_t pid() const { return process_->pid(); }
  /** Waits up to `timeout` for the process to exit; returns true (and reaps it) if it did. */
  bool wait_for_exit(std::chrono::milliseconds timeout);
  /** SIGTERM, then SIGKILL after 5 s, to this PID only; reaps it. Idempotent. */
  void stop();
  /** Exit status from waitpid (valid after wait_for_exit/stop returned true). */
  int wait_status() const { return process_->wait_status().value_or(0); }
  /** Contents of QEMU's stdout/stderr log so far. */
  std::string log() const { return process_->output(); }

 private:
  TempDir dir_{"hal-qemu-"};
  std::string qmp_path_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace hal::testing

#endif  // HAL_TESTING_BARE_QEMU_H
