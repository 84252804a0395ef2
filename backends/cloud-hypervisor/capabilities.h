// capabilities.h - what this host and this cloud-hypervisor binary can do: the binary's version
// and build features (vmm.ping of a short-lived probe VMM), and TDX support with the name of
// every missing piece (KVM TDX on the host, a binary built with the "tdx" feature).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_CAPABILITIES_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_CAPABILITIES_H

#include <filesystem>
#include <set>
#include <string>

#include "backends/cloud-hypervisor/ch_version.h"

namespace hal::cloud_hypervisor {

/** What a probe of the binary found. */
struct BinaryProbe {
  /** True when a probe VMM answered vmm.ping. */
  bool ok = false;
  /** What vmm.ping said: "version" (e.g. "53.0.0") and "build_version" (e.g. "v53.0"). */
  std::string version;
  /** The release parsed from them; {0, 0} when neither holds a version number. */
  ChVersion release;
  /** Build features ("tdx", "kvm", ...). */
  std::set<std::string> features;
  /** True when the binary is hal-ch-emulator, whose build_version ends in "-hal-ch-emulator"
   *  (upstream's CH_EXTRA_VERSION suffix): no hardware acceleration at all. */
  bool emulated = false;
  /** Why the probe failed (when !ok). */
  std::string error;
};

/** Starts `binary` with an API socket in `scratch_dir`, pings it and stops it (by its pid). */
BinaryProbe probe_binary(const std::string &binary, const std::filesystem::path &scratch_dir);

/** Empty when the backend drives this binary; else why not (a release older than
 *  kOldestSupported, or no version number in vmm.ping). */
std::string unsupported_binary(const BinaryProbe &probe);

/** The accelerator to report: "emulated" for hal-ch-emulator, else "kvm" (the only one
 *  Cloud Hypervisor uses on Linux here). */
std::string accelerator_of(const BinaryProbe &probe);

/** Empty when TDX guests can run; else every missing piece, named. */
std::string tdx_missing(const std::filesystem::path &host_root, const BinaryProbe &probe);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_CAPABILITIES_H
