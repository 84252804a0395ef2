// run_as.h - which user QEMU runs as: the backend config's runAs, defaulting to "nobody" when the
// agent runs as root, so a guest's QEMU never keeps root (issue 25).
#ifndef HAL_BACKENDS_KVM_QEMU_RUN_AS_H
#define HAL_BACKENDS_KVM_QEMU_RUN_AS_H

#include <sys/types.h>

#include <optional>
#include <string>

namespace hal::kvm_qemu {

/** The user a root agent runs QEMU as when config.runAs is absent. */
inline constexpr char kDefaultRunAs[] = "nobody";

/** The user QEMU must switch to ("" = none) given config.runAs (`configured`, nullopt when
 *  absent) and the agent's effective uid `euid`. Absent: kDefaultRunAs for root, none otherwise.
 *  A configured user naming `euid` itself means none. Throws hal::plugin::Failure
 *  (HAL_INVALID_ARGUMENT, "kvm-qemu config.runAs: ...") for an unknown user, for a user with uid
 *  0 other than the agent, and for any other user when the agent is not root (it could not
 *  switch). */
std::string choose_run_as(const std::optional<std::string> &configured, uid_t euid);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_RUN_AS_H
