// guest_console.h - where the kvm-qemu backend keeps a VM's console log, for the benchmarks that
// wait for the test guest's ready marker on it (testing/test_guest.h reads the log).
#ifndef HAL_BACKENDS_KVM_QEMU_BENCH_GUEST_CONSOLE_H
#define HAL_BACKENDS_KVM_QEMU_BENCH_GUEST_CONSOLE_H

#include <filesystem>
#include <string>

#include "hal/plugin.hpp"

namespace hal::kvm_qemu::bench {

/** The console log of a VM the kvm-qemu backend runs: the file next to the console socket its
 *  vm-info names. Throws std::runtime_error naming `side` when the info names no console. */
std::filesystem::path backend_console_log(hal::plugin::Vm &vm, const std::string &side);

}  // namespace hal::kvm_qemu::bench

#endif  // HAL_BACKENDS_KVM_QEMU_BENCH_GUEST_CONSOLE_H
