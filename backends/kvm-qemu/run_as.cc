// run_as.cc - choose_run_as (run_as.h).
#include "backends/kvm-qemu/run_as.h"

#include <pwd.h>

#include <vector>

#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

namespace {

[[noreturn]] void refuse(const std::string &problem) {
  throw hal::plugin::Failure(HAL_INVALID_ARGUMENT, "kvm-qemu config.runAs: " + problem);
}

// The uid of user `name`, nullopt when there is none.
std::optional<uid_t> uid_of(const std::string &name) {
  struct passwd entry {};
  struct passwd *found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->pw_uid;
}

}  // namespace

std::string choose_run_as(const std::optional<std::string> &configured, uid_t euid) {
  const std::string name = configured.value_or(euid == 0 ? kDefaultRunAs : "");
  if (name.empty()) return "";
  const std::optional<uid_t> uid = uid_of(name);
  if (!uid) refuse("no user '" + name + "' on this host");
  if (*uid == euid) return "";
  if (*uid == 0) refuse("'" + name + "' has uid 0: QEMU must run as an unprivileged user");
  if (euid != 0) refuse("the agent is not root, so QEMU cannot switch to '" + name + "'");
  return name;
}

}  // namespace hal::kvm_qemu
