// accelerator.h - which accelerator the kvm-qemu backend runs its VMs with, and why: KVM only
// where the host's facts say a stock guest kernel runs under it (not on a paravirtual KVM such
// as kvm-pvm) and QEMU then runs the firmware under it; TCG otherwise.
#ifndef HAL_BACKENDS_KVM_QEMU_ACCELERATOR_H
#define HAL_BACKENDS_KVM_QEMU_ACCELERATOR_H

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace hal::kvm_qemu {

/** The accelerator chosen for the backend's VMs and the reason, as capabilities and logs show
 *  it (e.g. "tcg" because "kvm: /dev/kvm is kvm-pvm, which runs only PVM guest kernels"). */
struct AcceleratorChoice {
  /** "kvm" or "tcg". */
  std::string accelerator;
  /** Why: the refusal of the other accelerator ("kvm: ...") or what made this one right. */
  std::string reason;
};

/** Why KVM cannot run stock guests here, or nothing (an empty reason) when it can. */
struct KvmRefusal {
  /** "" when KVM runs stock guests here, else why not, phrased to follow "kvm: ". */
  std::string reason;
  /** When the reason is that /dev/kvm does not open: the errno of opening it
   *  (KvmHostFacts::device_errno; EACCES or EPERM is a permission problem); else 0. */
  int device_errno = 0;
};

/** Decides for config.accelerator `requested` ("auto", "kvm" or "tcg"). `kvm_refusal` says
 *  whether and why not KVM runs stock guests here; it is called only when the answer matters
 *  (never for "tcg"). An explicit "kvm" that is refused throws hal::plugin::Failure naming the
 *  reason: HAL_PERMISSION_DENIED when /dev/kvm failed to open with EACCES or EPERM, else
 *  HAL_UNAVAILABLE. */
AcceleratorChoice choose_accelerator(std::string_view requested,
                                     const std::function<KvmRefusal()> &kvm_refusal);

/** Whether QEMU `binary` can run a stock guest under KVM on this host, and why not. First the
 *  host's facts under `host_root` (core/host/kvm_host.h: /dev/kvm, its vendor module, the CPU's
 *  virtualisation flags), then QEMU started once under `scratch_dir` with accel=kvm must run the
 *  firmware (kvm_guest_probe; its answer is cached per binary for the life of the process).
 *  Never throws. */
KvmRefusal kvm_refusal(const std::string &binary, const std::filesystem::path &scratch_dir,
                       const std::filesystem::path &host_root);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_ACCELERATOR_H
