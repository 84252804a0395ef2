// process_identity.h - "is this pid still our hypervisor?", asked before re-adopting a process
// from a pidfile: the pidfile can outlive its process and the pid be reused by another program,
// so the live process's command line must show the binary and a path only this VM's process has.
#ifndef HAL_BACKENDS_COMMON_PROCESS_IDENTITY_H
#define HAL_BACKENDS_COMMON_PROCESS_IDENTITY_H

#include <sys/types.h>

#include <string>
#include <vector>

namespace hal::backend_common {

/** The NUL-separated argv of a live process from /proc/PID/cmdline; empty when it is gone or a
 *  zombie. */
std::vector<std::string> process_cmdline(pid_t pid);

/** True when `pid` is alive, its argv[0] has the same file name as `binary` and one of its
 *  arguments contains `marker` (e.g. the VM's control socket path). A process in the middle of
 *  execve() briefly shows an empty cmdline: it is read again for up to 100 ms. */
bool is_our_process(pid_t pid, const std::string &binary, const std::string &marker);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_PROCESS_IDENTITY_H
