// accelerator.cc - the kvm-qemu accelerator decision (see accelerator.h).
#include "backends/kvm-qemu/accelerator.h"

#include <cerrno>

#include "backends/kvm-qemu/qemu_probe.h"
#include "core/host/kvm_host.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

AcceleratorChoice choose_accelerator(std::string_view requested,
                                     const std::function<KvmRefusal()> &kvm_refusal) {
  if (requested == "tcg") return {"tcg", "tcg: config.accelerator is tcg"};
  const KvmRefusal refusal = kvm_refusal();
  if (requested == "kvm") {
    if (!refusal.reason.empty()) {
      const bool permission = refusal.device_errno == EACCES || refusal.device_errno == EPERM;
      throw hal::plugin::Failure(permission ? HAL_PERMISSION_DENIED : HAL_UNAVAILABLE,
                                 "kvm-qemu: accelerator kvm requested but " + refusal.reason);
    }
    return {"kvm", "kvm: config.accelerator is kvm"};
  }
  if (!refusal.reason.empty()) return {"tcg", "kvm: " + refusal.reason};
  return {"kvm", "kvm: /dev/kvm is hardware KVM and QEMU runs firmware under it"};
}

KvmRefusal kvm_refusal(const std::string &binary, const std::filesystem::path &scratch_dir,
                       const std::filesystem::path &host_root) {
  const KvmHostFacts facts = read_kvm_host_facts(host_root);
  if (std::string host = kvm_host_refusal(facts); !host.empty()) {
    return {host, facts.device_errno};
  }
  return {cached_kvm_guest_probe(binary, scratch_dir), 0};
}

}  // namespace hal::kvm_qemu
