// resolve_binary.h - the executable a configured binary name stands for, found the way execvp
// (and so spawn_process) finds it, so a backend can refuse a missing hypervisor when it is opened
// instead of at the first VM start.
#ifndef HAL_BACKENDS_COMMON_RESOLVE_BINARY_H
#define HAL_BACKENDS_COMMON_RESOLVE_BINARY_H

#include <string>

namespace hal::backend_common {

/** `binary` itself when it contains '/' and is an executable file; else the first directory of
 *  PATH (an empty entry meaning the current directory, the system's default path when PATH is
 *  unset) holding an executable file of that name. "" when there is none or `binary` is empty. */
std::string resolve_binary(const std::string &binary);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_RESOLVE_BINARY_H
