// private_dir.h - owner-only (0700) directories for a backend's state, and the default root a
// backend keeps its per-VM state directories under. Sockets, pidfiles and specs live there, so no
// other user may list or enter any directory the backend creates on the way.
#ifndef HAL_BACKENDS_COMMON_PRIVATE_DIR_H
#define HAL_BACKENDS_COMMON_PRIVATE_DIR_H

#include <filesystem>
#include <string_view>

namespace hal::backend_common {

/** Creates `dir` and every missing parent with mode 0700, then sets `dir` itself to 0700 (it may
 *  have existed with another mode). Parents that already exist are left as they are. Throws
 *  std::system_error. */
void create_private_dir(const std::filesystem::path &dir);

/** The default state root of backend `backend` (e.g. "kvm-qemu"): /run/hal/<backend> when the
 *  effective user is root, else $XDG_RUNTIME_DIR/hal/<backend>, else /tmp/hal-<euid>/<backend>. */
std::filesystem::path default_state_root(std::string_view backend);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_PRIVATE_DIR_H
