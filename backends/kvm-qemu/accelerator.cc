// accelerator.cc - the kvm-qemu accelerator decision (see accelerator.h).
#include "backends/kvm-qemu/accelerator.h"

#include "backends/kvm-qemu/qemu_probe.h"
#include "core/host/kvm_host.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

AcceleratorChoice choose_accelerator(std::string_view requested,
                                     const std::function<std::string()> &kvm_refusal) {
  if (requested == "tcg") return {"tcg", "tcg: config.accelerator is tcg"};
  const std::string refusal = kvm_refusal();
  if (requested == "kvm") {
    if (!refusal.empty()) {
      throw hal::plugin::Failure(
          refusal.find("ermission") != std::string::npos ? HAL_PERMISSION_DENIED : HAL_UNAVAILABLE,
          "kvm-qemu: accelerator kvm requested but " + refusal);
    }
    return {"kvm", "kvm: config.accelerator is kvm"};
  }
  if (!refusal.empty()) return {"tcg", "kvm: " + refusal};
  return {"kvm", "kvm: /dev/kvm is hardware KVM and QEMU runs firmware under it"};
}

std::string kvm_refusal(const std::string &binary, const std::filesystem::path &scratch_dir,
                        const std::filesystem::path &host_root) {
  if (std::string host = kvm_host_refusal(read_kvm_host_facts(host_root)); !host.empty()) {
    return host;
  }
  return cached_kvm_guest_probe(binary, scratch_dir);
}

}  // namespace hal::kvm_qemu
