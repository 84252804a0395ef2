// real_binary.h - the real cloud-hypervisor that the tests' real-binary variants run: the binary
// $HAL_CH_BINARY names, on a host whose KVM runs stock guest kernels (not the paravirtual
// kvm_pvm, on which they hang), booting the project's test guest (a real kernel and initramfs).
// Elsewhere the variants are skipped with the reason this gives.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_TESTS_REAL_BINARY_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_TESTS_REAL_BINARY_H

#include <optional>
#include <string>

namespace hal::cloud_hypervisor::testing {

/** A real VMM and a guest it can boot. */
struct RealBinary {
  /** The cloud-hypervisor binary (resolved). */
  std::string binary;
  /** The test guest dir: vmlinuz, initrd.img. */
  std::string guest_dir;
};

/** The real binary and guest, or nullopt and why not (in `why`): $HAL_CH_BINARY unset or not
 *  executable, a KVM that cannot run stock guests, no test guest. Decided once per program. */
std::optional<RealBinary> real_binary(std::string *why);

}  // namespace hal::cloud_hypervisor::testing

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_TESTS_REAL_BINARY_H
