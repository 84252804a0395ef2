// process_identity.h - "is this pid still our hypervisor?", asked before re-adopting a process
// from a pidfile: the pidfile can outlive its process and the pid be reused by another program,
// so the live process's command line must show the binary and a path only this VM's process has.
#ifndef HAL_BACKENDS_COMMON_PROCESS_IDENTITY_H
#define HAL_BACKENDS_COMMON_PROCESS_IDENTITY_H

#include <sys/types.h>

#include <string>
#include <vector>

#include "backends/common/state_dir.h"

namespace hal::backend_common {

/** The NUL-separated argv of a live process from /proc/PID/cmdline; empty when it is gone or a
 *  zombie. */
std::vector<std::string> process_cmdline(pid_t pid);

/** True when `pid` is alive, its argv[0] has the same file name as `binary` and one of its
 *  arguments contains `marker` (e.g. the VM's control socket path). A process in the middle of
 *  execve() briefly shows an empty cmdline: it is read again for up to 100 ms. */
bool is_our_process(pid_t pid, const std::string &binary, const std::string &marker);

/** What a VM's state dir says of its hypervisor process when a backend opens. */
struct FoundProcess {
  /** What was found. */
  enum class Kind {
    /** No pidfile: no process was believed to run. */
    kNone,
    /** A pidfile whose process is gone or is not ours (the pidfile has been removed): it exited
     *  while no backend was watching it. */
    kGone,
    /** Our live process: re-adopt it. */
    kOurs,
  };
  /** What was found. */
  Kind kind = Kind::kNone;
  /** The pid in the pidfile (kGone, kOurs). */
  pid_t pid = 0;
};

/** Looks at the pidfile of `dir` at open(): kOurs when is_our_process(pid, binary, marker);
 *  kGone (removing the stale pidfile) when a pidfile names anything else. */
FoundProcess find_process(const StateDir &dir, const std::string &binary,
                          const std::string &marker);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_PROCESS_IDENTITY_H
