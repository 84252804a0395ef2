// exit_info.cc - the description of a process exit (see exit_info.h).
#include "backends/common/exit_info.h"

#include <sys/wait.h>

#include <cstring>

namespace hal::backend_common {

std::string ExitInfo::describe() const {
  if (!status_known) return "exited (status unknown: not our child)";
  if (WIFEXITED(wait_status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    // sigdescr_np, unlike strsignal, is thread-safe (watcher threads describe exits concurrently).
    const char *name = ::sigdescr_np(sig);
    return "killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
  }
  return "ended (wait status " + std::to_string(wait_status) + ")";
}

}  // namespace hal::backend_common
