// backend_accelerator.h - the one accelerator decision the controller benchmark takes before it
// runs anything, asked of the kvm-qemu plugin itself through libhal-core (hal::Plugin,
// hal::Backend): opened with the requested accelerator, its capabilities say what it chose and
// why. That choice is then given explicitly to the kvm-qemu pool and to the bare QEMUs, so that
// HAL is never compared with a baseline under another accelerator.
#ifndef HAL_CONTROLLER_BENCH_BACKEND_ACCELERATOR_H
#define HAL_CONTROLLER_BENCH_BACKEND_ACCELERATOR_H

#include <filesystem>
#include <string>
#include <string_view>

namespace hal::bench {

/** An accelerator and why it was chosen. */
struct AcceleratorChoice {
  std::string accelerator;  ///< "kvm" or "tcg".
  std::string reason;       ///< The backend's acceleratorReason, or "--accelerator X".
};

/** Decides for `requested` ("auto", "kvm" or "tcg", as --accelerator says): opens the plugin at
 *  `plugin` with {"accelerator": requested, "stateDir": <scratch_dir>/accelerator} and reads
 *  its capabilities' accelerator and acceleratorReason. An explicit request keeps
 *  "--accelerator X" as its reason. Throws std::invalid_argument for another value and hal::Error
 *  when the backend refuses (an explicit "kvm" on a host where KVM does not run stock guests). */
AcceleratorChoice backend_accelerator(const std::filesystem::path &plugin,
                                      std::string_view requested,
                                      const std::filesystem::path &scratch_dir);

/** The line every benchmark prints: "accelerator: tcg (kvm: /dev/kvm: No such file or
 *  directory)". */
std::string accelerator_line(const AcceleratorChoice &choice);

}  // namespace hal::bench

#endif  // HAL_CONTROLLER_BENCH_BACKEND_ACCELERATOR_H
