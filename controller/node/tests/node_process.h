// node_process.h - runs the real hal-node program for integration tests: spawned with argv (no
// shell), its "listening on" line read from stdout, stderr kept in a file; stopped by its PID
// (SIGTERM, or SIGKILL to simulate a crash) and always reaped.
#ifndef HAL_CONTROLLER_NODE_TESTS_NODE_PROCESS_H
#define HAL_CONTROLLER_NODE_TESTS_NODE_PROCESS_H

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hal::node::testing {

/** One hal-node process. The destructor SIGKILLs it if still running. */
class NodeProcess {
 public:
  /** Starts `binary` with `args`; stderr goes to `stderr_file`. Waits up to `timeout` for the
   *  "hal-node: listening on ADDR" line; throws std::runtime_error (with stderr) otherwise. */
  NodeProcess(const std::string &binary, const std::vector<std::string> &args,
              const std::filesystem::path &stderr_file,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  ~NodeProcess();
  NodeProcess(const NodeProcess &) = delete;
  NodeProcess &operator=(const NodeProcess &) = delete;

  /** The process id. */
  pid_t pid() const { return pid_; }
  /** The address it serves NodeAgent on. */
  const std::string &address() const { return address_; }
  /** Sends `signal` and waits up to `timeout` for the exit; returns the wait status, or nullopt
   *  when it did not exit in time. */
  std::optional<int> signal_and_wait(int signal, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
  std::filesystem::path stderr_file_;
};

/** True when process `pid` exists (and is not a zombie). */
bool process_alive(pid_t pid);

}  // namespace hal::node::testing

#endif  // HAL_CONTROLLER_NODE_TESTS_NODE_PROCESS_H
