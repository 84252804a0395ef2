// kvm_host.h - whether this host's KVM can run a stock guest kernel, from facts read under a
// root prefix (so tests can use a fake tree): /dev/kvm opens read-write, which vendor module
// provides it (kvm_intel, kvm_amd, or the paravirtual kvm_pvm, which runs only PVM guest
// kernels), and whether the CPU has hardware virtualisation (vmx or svm).
#ifndef HAL_CORE_HOST_KVM_HOST_H
#define HAL_CORE_HOST_KVM_HOST_H

#include <filesystem>
#include <string>

namespace hal {

/** What the host says about its KVM. */
struct KvmHostFacts {
  /** "" when <root>/dev/kvm opens read-write, else e.g. "/dev/kvm: No such file or directory". */
  std::string device_error;
  /** 0 when <root>/dev/kvm opens read-write, else the errno of opening it (ENOENT: no device;
   *  EACCES or EPERM: a permission problem). */
  int device_errno = 0;
  /** The KVM vendor module in <root>/sys/module: "kvm_intel", "kvm_amd", "kvm_pvm" or "". */
  std::string vendor_module;
  /** True when <root>/proc/cpuinfo has an x86 "flags" line. */
  bool cpu_flags_known = false;
  /** True when those flags include vmx or svm (meaningful only when cpu_flags_known). */
  bool hardware_virtualisation = false;
};

/** Reads the facts under `root` ("/" for the real host). Never throws. */
KvmHostFacts read_kvm_host_facts(const std::filesystem::path &root = "/");

/** "" when a stock guest kernel can run under the host's KVM as far as the facts tell, else why
 *  not, phrased to follow "kvm: " (e.g. "/dev/kvm is kvm-pvm, which runs only PVM guest
 *  kernels"). A paravirtual KVM is refused even though /dev/kvm opens: stock kernels hang on it
 *  after the firmware. */
std::string kvm_host_refusal(const KvmHostFacts &facts);

}  // namespace hal

#endif  // HAL_CORE_HOST_KVM_HOST_H
