// machine_type.h - which QEMU machine a VM runs. kvm-qemu builds q35 machines; the alias q35
// moves to a new versioned machine with each QEMU release, so a VM is pinned at definition to
// the versioned machine its QEMU resolves q35 to (pc-q35-7.2, say). It keeps that machine across
// restarts and QEMU upgrades, and a migration target is launched with the source's machine.
#ifndef HAL_BACKENDS_KVM_QEMU_MACHINE_TYPE_H
#define HAL_BACKENDS_KVM_QEMU_MACHINE_TYPE_H

#include <string>

#include "backends/kvm-qemu/qemu_probe.h"

namespace hal::kvm_qemu {

/** The machine for a spec asking for `requested` ("" or "q35": QEMU's current q35 machine;
 *  else a versioned q35 machine, "pc-q35-7.2"). Keeps "q35" when the probe learnt no alias.
 *  Throws plugin::Failure naming spec.machine: HAL_UNSUPPORTED for a machine that is not q35 or
 *  that `qemu` lacks. */
std::string resolve_machine(const std::string &requested, const QemuFeatures &qemu);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_MACHINE_TYPE_H
