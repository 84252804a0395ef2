// capabilities.h - what this host and this cloud-hypervisor binary can do: the binary's version
// and build features (vmm.ping of a short-lived probe VMM), and TDX support with the name of
// every missing piece (KVM TDX on the host, a binary built with the "tdx" feature).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_CAPABILITIES_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_CAPABILITIES_H

#include <filesystem>
#include <set>
#include <string>

namespace hal::cloud_hypervisor {

/** What a probe of the binary found. */
struct BinaryProbe {
  /** True when a probe VMM answered vmm.ping. */
  bool ok = false;
  /** "v48.0.0" etc. */
  std::string version;
  /** Build features ("tdx", "kvm", ...). */
  std::set<std::string> features;
  /** True when the binary is hal-ch-emulator (no hardware acceleration at all). */
  bool emulated = false;
  /** Why the probe failed (when !ok). */
  std::string error;
};

/** Starts `binary` with an API socket in `scratch_dir`, pings it and stops it (by its pid). */
BinaryProbe probe_binary(const std::string &binary, const std::filesystem::path &scratch_dir);

/** The accelerator to report: "emulated" for hal-ch-emulator, else "kvm" (the only one
 *  Cloud Hypervisor uses on Linux here). */
std::string accelerator_of(const BinaryProbe &probe);

/** Empty when TDX guests can run; else every missing piece, named. */
std::string tdx_missing(const std::filesystem::path &host_root, const BinaryProbe &probe);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_CAPABILITIES_H
