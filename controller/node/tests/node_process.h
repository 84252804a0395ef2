// node_process.h - runs the real hal-node program for integration tests (a
// testing/child_process.h child): its "listening on" line read from its log; stopped by its PID
// (SIGTERM, or SIGKILL to simulate a crash) and always reaped.
#ifndef HAL_CONTROLLER_NODE_TESTS_NODE_PROCESS_H
#define HAL_CONTROLLER_NODE_TESTS_NODE_PROCESS_H

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testing/child_process.h"

namespace hal::node::testing {

/** One hal-node process. The destructor SIGKILLs it if still running. */
class NodeProcess {
 public:
  /** Starts `binary` with `args`; stdout and stderr are appended to `log_file`. Waits up to
   *  `timeout` for the "hal-node: listening on ADDR" line; throws std::runtime_error (with the
   *  output) otherwise. */
  NodeProcess(const std::string &binary, const std::vector<std::string> &args,
              const std::filesystem::path &log_file,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  ~NodeProcess();
  NodeProcess(const NodeProcess &) = delete;
  NodeProcess &operator=(const NodeProcess &) = delete;

  /** The process id. */
  pid_t pid() const { return process_->pid(); }
  /** The address it serves NodeAgent on. */
  const std::string &address() const { return address_; }
  /** Sends `signal` and waits up to `timeout` for the exit; returns the wait status, or nullopt
   *  when it did not exit in time. */
  std::optional<int> signal_and_wait(int signal, std::chrono::milliseconds timeout) {
    return process_->signal_and_wait(signal, timeout);
  }

 private:
  std::unique_ptr<hal::testing::ChildProcess> process_;
  std::string address_;
};

/** True when process `pid` exists (and is not a zombie). */
using hal::testing::process_alive;

}  // namespace hal::node::testing

#endif  // HAL_CONTROLLER_NODE_TESTS_NODE_PROCESS_H
