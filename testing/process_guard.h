// process_guard.h - kills a process a test started when the test ends, however it ends. It holds
// a pidfd, so a pid that was reaped and reused meanwhile is never signalled.
#ifndef HAL_TESTING_PROCESS_GUARD_H
#define HAL_TESTING_PROCESS_GUARD_H

#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hal::testing {

/** Owns a pidfd of a process a test started; SIGKILLs (and, when it is our child, reaps) that
 *  process on destruction. */
class ProcessGuard {
 public:
  /** Guards process `pid` (nothing when it no longer exists). */
  explicit ProcessGuard(pid_t pid) : pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}
  /** Kills the process if it still runs and reaps it if it is our child. */
  ~ProcessGuard() {
    if (pidfd_ < 0) return;
    ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    siginfo_t info{};
    // Blocks until our child has exited; fails at once (ECHILD) for another parent's process.
    ::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED);
    ::close(pidfd_);
  }
  ProcessGuard(const ProcessGuard &) = delete;
  ProcessGuard &operator=(const ProcessGuard &) = delete;

 private:
  int pidfd_;
};

}  // namespace hal::testing

#endif  // HAL_TESTING_PROCESS_GUARD_H
