// test_guest.h - finds the test guest (Debian kernel + busybox initramfs) for the kvm-qemu tests
// and benchmarks: $HAL_TEST_GUEST_DIR, else built (once per program) by
// scripts/test-guest/build.sh.
#ifndef HAL_BACKENDS_KVM_QEMU_TESTS_TEST_GUEST_H
#define HAL_BACKENDS_KVM_QEMU_TESTS_TEST_GUEST_H

#include <optional>
#include <string>

namespace hal::kvm_qemu::testing {

/** The test guest dir (vmlinuz, initrd.img): $HAL_TEST_GUEST_DIR, else built by the project
 *  script; nullopt (with `why`) when it cannot be built. */
std::optional<std::string> test_guest_dir(std::string *why);

}  // namespace hal::kvm_qemu::testing

#endif  // HAL_BACKENDS_KVM_QEMU_TESTS_TEST_GUEST_H
