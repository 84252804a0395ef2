// supervised_process.h - one hypervisor process a backend runs or re-adopts: spawned (spawn.h)
// with its pidfile written, or adopted by pid after a backend restart; its exit is seen through a
// pidfd by a watcher thread, which reaps it when it is our child. Destroying the object stops
// watching and never kills the process, so a later backend instance can adopt it.
#ifndef HAL_BACKENDS_COMMON_SUPERVISED_PROCESS_H
#define HAL_BACKENDS_COMMON_SUPERVISED_PROCESS_H

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/common/exit_info.h"

namespace hal::backend_common {

/** What SupervisedProcess::wait_for_path saw first. */
enum class PathWait {
  /** The path exists. */
  kAppeared,
  /** The process exited before the path appeared. */
  kExited,
  /** Neither happened within the timeout. */
  kTimedOut,
};

/** A running process being watched. */
class SupervisedProcess {
 public:
  /** Called once, on the watcher thread, when the process has exited (and was reaped when it is
   *  our child), before exited()/wait_exit() report it. It may destroy the SupervisedProcess. */
  using ExitCallback = std::function<void(const ExitInfo &)>;

  /** Spawns `argv` with spawn_process (own process group, clean signal state, output appended to
   *  `log`, working directory `cwd` unless empty), writes its pid to `pidfile` and watches it.
   *  Throws std::system_error (the child is killed when anything after the spawn fails) or
   *  std::invalid_argument for an empty argv. */
  static std::unique_ptr<SupervisedProcess> spawn(const std::vector<std::string> &argv,
                                                  const std::filesystem::path &log,
                                                  const std::filesystem::path &pidfile,
                                                  ExitCallback on_exit,
                                                  const std::filesystem::path &cwd = {});
  /** Watches a running process that is not necessarily our child. Throws std::system_error when
   *  it no longer exists. */
  static std::unique_ptr<SupervisedProcess> adopt(pid_t pid, ExitCallback on_exit);

  /** Stops watching; never signals the process. */
  ~SupervisedProcess();
  SupervisedProcess(const SupervisedProcess &) = delete;
  SupervisedProcess &operator=(const SupervisedProcess &) = delete;

  /** The process id (also its process group id when we spawned it). */
  pid_t pid() const { return pid_; }
  /** True once the exit was observed (and the exit callback returned). */
  bool exited() const;
  /** Waits up to `timeout` for the exit; true when it has exited. */
  bool wait_exit(std::chrono::milliseconds timeout) const;
  /** How it ended (valid once exited()). */
  ExitInfo exit_info() const;
  /** Sends `signal` to the process (no-op once exited). */
  void send_signal(int signal) const;
  /** Waits up to `timeout` for `path` (e.g. the control socket the process creates at startup)
   *  to exist, returning as soon as it does or the process exits; the path is looked at every
   *  2 ms, the exit is seen at once. A path that exists is kAppeared even when the process has
   *  exited meanwhile (connecting to it then fails with the real reason). */
  PathWait wait_for_path(const std::filesystem::path &path,
                         std::chrono::milliseconds timeout) const;
  /** Waits up to `grace` for the process to end by itself (a backend first asks it to quit through
   *  its own protocol), then SIGKILLs it and waits up to 30 s more. True when it has exited. */
  bool kill_after(std::chrono::milliseconds grace) const;

 private:
  struct Watch;
  SupervisedProcess(pid_t pid, int pidfd, ExitCallback on_exit);

  pid_t pid_;
  // Shared with the watcher thread, so it outlives this object when the exit callback destroys it.
  std::shared_ptr<Watch> watch_;
  std::thread watcher_;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_SUPERVISED_PROCESS_H
