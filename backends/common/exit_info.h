// exit_info.h - how a watched hypervisor process ended, and the words backends use for it in
// errors and events ("QEMU exited with status 1", ...).
#ifndef HAL_BACKENDS_COMMON_EXIT_INFO_H
#define HAL_BACKENDS_COMMON_EXIT_INFO_H

#include <string>

namespace hal::backend_common {

/** How a process ended. */
struct ExitInfo {
  /** False when we could not reap it (an adopted process that is not our child): its wait status
   *  is unknown. */
  bool status_known = false;
  /** Raw wait status (WIFEXITED/WIFSIGNALED) when status_known. */
  int wait_status = 0;
  /** "exited with status 1", "killed by signal 9 (Killed)" or
   *  "exited (status unknown: not our child)". */
  std::string describe() const;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_EXIT_INFO_H
