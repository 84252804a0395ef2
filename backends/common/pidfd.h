// pidfd.h - Linux process file descriptors. A pidfd names one process for good: signalling or
// reaping through it can never reach a later process that reused the pid, and it becomes
// readable when the process exits, which is how a watcher thread sees the exit.
#ifndef HAL_BACKENDS_COMMON_PIDFD_H
#define HAL_BACKENDS_COMMON_PIDFD_H

#include <sys/types.h>

#include <optional>

namespace hal::backend_common {

/** A pidfd (close-on-exec) for process `pid`; -1 with errno set when there is no such process. */
int open_pidfd(pid_t pid);

/** Sends `signal` to the process of `pidfd`; 0, or -1 with errno set (ESRCH once it has exited). */
int signal_pidfd(int pidfd, int signal);

/** Reaps the exited process of `pidfd` without blocking and returns its wait status (as waitpid
 *  reports it); nullopt when it is not our child, was already reaped or still runs. */
std::optional<int> reap_pidfd(int pidfd);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_PIDFD_H
