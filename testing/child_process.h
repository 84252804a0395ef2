// child_process.h - the one way tests and benchmarks start programs: argv (posix_spawn, never a
// shell) in the child's own process group, output into files or captured, waited for with a
// timeout, and the whole group killed when the handle goes away. Also: running a program to
// completion, and finding and stopping processes by the pidfiles our backends write.
#ifndef HAL_TESTING_CHILD_PROCESS_H
#define HAL_TESTING_CHILD_PROCESS_H

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace hal::testing {

/** How ChildProcess starts its program. stdin is always /dev/null. */
struct ChildOptions {
  /** Where stdout goes; empty: the test's own stdout. */
  std::filesystem::path stdout_file;
  /** Where stderr goes; empty: wherever stdout goes. */
  std::filesystem::path stderr_file;
  /** Open the output files truncated instead of appending to them. */
  bool truncate = false;
  /** Variables set in the child's environment (over the inherited ones). */
  std::map<std::string, std::string> env;
  /** Start from this process's environment (false: only `env`). */
  bool inherit_environment = true;
};

/** Options sending stdout and stderr to `log`, appended (or truncated first when `truncate`). */
ChildOptions output_to(const std::filesystem::path &log, bool truncate = false);

/** One started program, leading its own process group. Destruction stops it (stop()) and then
 *  SIGKILLs whatever is left in its process group. */
class ChildProcess {
 public:
  /** Spawns argv[0] (a path, or a name looked up in PATH) with `argv` as `options` say. Throws
   *  std::runtime_error when the spawn fails. */
  explicit ChildProcess(std::vector<std::string> argv, ChildOptions options = {});
  /** Spawns argv[0] with `argv`, stdout and stderr appended to `log_path`, `env` added to the
   *  environment. */
  ChildProcess(std::vector<std::string> argv, const std::filesystem::path &log_path,
               std::map<std::string, std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess &) = delete;
  ChildProcess &operator=(const ChildProcess &) = delete;

  /** The PID (also its process group id). */
  pid_t pid() const { return pid_; }
  /** True while the process has not exited. */
  bool running();
  /** Waits up to `timeout` for the exit; returns the wait status (as waitpid reports it), or
   *  nullopt when it still runs. */
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /** Sends `signal` to this PID only and waits up to `timeout` for the exit, as wait() does. */
  std::optional<int> signal_and_wait(int signal, std::chrono::milliseconds timeout);
  /** SIGKILL to this PID only (not its group: children it spawned must survive, as after a
   *  crash), then reaps it. */
  void kill_hard();
  /** SIGTERM, wait up to `grace`, then SIGKILL; reaps. Idempotent. */
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /** The wait status once the process was reaped (nullopt before; -1 when something else, such
   *  as a subreaper's wait, reaped it). */
  std::optional<int> wait_status() const { return status_; }
  /** What the process wrote to its stdout file so far ("" when stdout is not a file). */
  std::string output() const;
  /** Waits until the process's stdout file matches `pattern`, looking only at what was written
   *  after this process started; returns the first match's groups, or nullopt on timeout or
   *  when the process exited first. */
  std::optional<std::smatch> wait_for_output(const std::regex &pattern,
                                             std::chrono::milliseconds timeout);

 private:
  bool reap(bool block);
  std::vector<std::string> argv_;
  ChildOptions options_;
  std::uintmax_t output_start_ = 0;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string last_output_;  // keeps smatch results alive
};

/** Output and exit code of a program run to completion. */
struct RunResult {
  int exit_code = -1;  ///< Exit code, or 128+signal.
  std::string out;     ///< stdout.
  std::string err;     ///< stderr.
};

/** Runs argv (argv[0] a path, or a name looked up in PATH) to completion with `input` on stdin,
 * capturing stdout and stderr; killed after `timeout`. Throws std::runtime_error when the spawn
 * fails. */
RunResult run_to_completion(const std::vector<std::string> &argv, std::chrono::milliseconds timeout,
                            const std::string &input = {});

/** True when process `pid` exists and is not a zombie. */
bool process_alive(pid_t pid);

/** Makes this process the reaper of orphaned descendants (QEMU left by a killed hal-node) so
 *  they can be reaped after being stopped. */
void become_subreaper();

/** Stops every process whose PID is in a file named `pidfile_name` under `root` (the pidfiles
 *  our backends write for the processes they started) and whose argv[0] contains
 *  `argv0_contains`: SIGTERM, then SIGKILL after `grace`, waiting for each to go; with a zero
 *  `grace`, SIGKILL at once without waiting. Returns how many were found alive. */
int stop_pidfiles_under(const std::filesystem::path &root, const std::string &pidfile_name,
                        const std::string &argv0_contains,
                        std::chrono::milliseconds grace = std::chrono::seconds(5));

}  // namespace hal::testing

#endif  // HAL_TESTING_CHILD_PROCESS_H
