// machine_type.cc - resolves and checks a VM's q35 machine against its QEMU's machine types.
#include "backends/kvm-qemu/machine_type.h"

#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

std::string resolve_machine(const std::string &requested, const QemuFeatures &qemu) {
  using plugin::Failure;
  if (requested.empty() || requested == "q35")
    return qemu.q35_machine.empty() ? "q35" : qemu.q35_machine;
  if (requested.rfind("pc-q35-", 0) != 0)
    throw Failure(
        HAL_UNSUPPORTED,
        "spec.machine: kvm-qemu runs q35 machines (q35 or pc-q35-*), not '" + requested + "'");
  if (!qemu.machines.empty() && qemu.machines.count(requested) == 0) {
    std::string has = qemu.q35_machine.empty() ? "" : " (its q35 is " + qemu.q35_machine + ")";
    throw Failure(HAL_UNSUPPORTED, "spec.machine: QEMU " + qemu.version + " has no machine '" +
                                       requested + "'" + has);
  }
  return requested;
}

}  // namespace hal::kvm_qemu
