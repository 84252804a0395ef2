// child_process.h - a program started by an end-to-end test or benchmark: argv (no shell), its
// own process group, stdout+stderr into a log file, stopped only by the PID it was given.
#ifndef HAL_CONTROLLER_E2E_CHILD_PROCESS_H
#define HAL_CONTROLLER_E2E_CHILD_PROCESS_H

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace hal::e2e {

/** One started program. Destruction stops it (SIGTERM, then SIGKILL after 5 s). */
class ChildProcess {
 public:
  /** Spawns argv[0] (a path) with `argv`, extra environment `env` and its output appended to
   *  `log_path`. Throws std::runtime_error when the spawn fails. */
  ChildProcess(std::vector<std::string> argv, std::string log_path,
               std::map<std::string, std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess &) = delete;
  ChildProcess &operator=(const ChildProcess &) = delete;

  /** The PID (also its process group id). */
  pid_t pid() const { return pid_; }
  /** True while the process has not exited. */
  bool running();
  /** SIGKILL to this PID only (not its group: children it spawned must survive, as after a
   *  crash), then reaps it. */
  void kill_hard();
  /** SIGTERM, wait up to `grace`, then SIGKILL; reaps. Idempotent. */
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /** The log so far. */
  std::string log() const;
  /** Waits until the log matches `pattern`; returns the first match's groups, or nullopt on
   *  timeout or when the process exited first. */
  std::optional<std::smatch> wait_for_log(const std::regex &pattern,
                                          std::chrono::milliseconds timeout);

 private:
  bool reap(bool block);
  std::vector<std::string> argv_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string last_log_;  // keeps smatch results alive
};

/** Output and exit code of a program run to completion. */
struct RunResult {
  int exit_code = -1;  ///< Exit code, or 128+signal.
  std::string out;     ///< stdout.
  std::string err;     ///< stderr.
};

/** Runs argv to completion with `input` on stdin (killed after `timeout`). */
RunResult run(const std::vector<std::string> &argv, std::chrono::milliseconds timeout,
              const std::string &input = {});

/** Makes this process the reaper of orphaned descendants (QEMU left by a killed hal-node) so
 *  they can be reaped after being stopped. */
void become_subreaper();

/** Stops every process whose PID is in a file named `pidfile_name` under `root` (the pidfiles
 *  our backends write for the processes they started) and whose argv[0] contains
 *  `argv0_contains`, SIGTERM then SIGKILL. Returns how many were found alive. */
int stop_pidfiles_under(const std::string &root, const std::string &pidfile_name,
                        const std::string &argv0_contains);

}  // namespace hal::e2e

#endif  // HAL_CONTROLLER_E2E_CHILD_PROCESS_H
