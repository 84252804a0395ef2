// bench_accelerator.h - the one accelerator decision a benchmark makes before it runs anything:
// the kvm-qemu backend's own (accelerator.h: choose_accelerator with kvm_refusal for
// qemu-system-x86_64 on this host), taken once and then given explicitly to every side it
// compares (backend config "accelerator", the raw QEMU argv, a libvirt domain's type), so that no
// side decides on its own and HAL is never compared with a baseline under another accelerator.
#ifndef HAL_BACKENDS_KVM_QEMU_BENCH_BENCH_ACCELERATOR_H
#define HAL_BACKENDS_KVM_QEMU_BENCH_BENCH_ACCELERATOR_H

#include <filesystem>
#include <string>
#include <string_view>

#include "backends/kvm-qemu/accelerator.h"

namespace hal::kvm_qemu::bench {

/** Decides for `requested` ("auto", "kvm" or "tcg", as the benchmark's --accelerator flag says)
 *  with choose_accelerator; QEMU's KVM probe, when needed, runs under `scratch_dir`. An explicit
 *  request keeps "--accelerator X" as its reason. Throws std::invalid_argument for another
 *  value and what choose_accelerator throws when "kvm" is refused (its message says why). */
AcceleratorChoice bench_accelerator(std::string_view requested,
                                    const std::filesystem::path &scratch_dir);

/** The line every benchmark prints: "accelerator: tcg (kvm: /dev/kvm: No such file or
 *  directory)". */
std::string accelerator_line(const AcceleratorChoice &choice);

}  // namespace hal::kvm_qemu::bench

#endif  // HAL_BACKENDS_KVM_QEMU_BENCH_BENCH_ACCELERATOR_H
