// qemu_probe.h - what the QEMU binary and the host can do: QEMU version, its machine types and
// whether it has the tdx-guest object (probed once per binary through QMP and cached), whether
// QEMU runs firmware under KVM, and host TDX support (kvm_intel's tdx
// parameter under a configurable sysfs root).
#ifndef HAL_BACKENDS_KVM_QEMU_QEMU_PROBE_H
#define HAL_BACKENDS_KVM_QEMU_QEMU_PROBE_H

#include <filesystem>
#include <set>
#include <string>

namespace hal::kvm_qemu {

/** Facts about one QEMU binary. */
struct QemuFeatures {
  /** "major.minor.micro" from the QMP greeting ("" when the probe failed). */
  std::string version;
  /** True when query-qmp-schema mentions the tdx-guest object type. */
  bool tdx_guest = false;
  /** Machine types from query-machines, names and aliases (e.g. "pc-q35-7.2", "q35"). */
  std::set<std::string> machines;
  /** The versioned machine the alias "q35" stands for ("" when QEMU has no such alias). */
  std::string q35_machine;
  /** Why the probe failed ("" on success). */
  std::string error;
};

/** True when `version` ("major.minor.micro", as QemuFeatures::version) is at least
 *  major.minor; false for an empty or malformed version. */
bool qemu_at_least(const std::string &version, int major, int minor);

/** Probes `binary` (a name searched in PATH, or a path) once and caches the answer for the life
 *  of the process; runs QEMU with -machine none under `scratch_dir`. Never throws. */
QemuFeatures probe_qemu(const std::string &binary, const std::filesystem::path &scratch_dir);

/** The QEMU half of the KVM check (accelerator.h), uncached: runs `binary` once under KVM with the
 * default CPU model and waits up to 10 s for the firmware's first line on the debug console (I/O
 * port 0x402). "" once it arrives, else why not (QEMU's own error when it exits). Never throws. */
std::string kvm_guest_probe(const std::string &binary, const std::filesystem::path &scratch_dir);

/** kvm_guest_probe's answer for `binary`, probed once and cached for the life of the process. */
std::string cached_kvm_guest_probe(const std::string &binary,
                                   const std::filesystem::path &scratch_dir);

/** "" when the host has TDX enabled (core/host's detect_tdx under `host_root`), else the
 *  reason it gives, e.g. "host does not support TDX (kvm_intel tdx parameter not enabled)". */
std::string host_tdx_missing(const std::filesystem::path &host_root);

/** "" when a TDX guest can run, else everything that is missing, starting "TDX: ". */
std::string tdx_missing(const std::filesystem::path &host_root, const std::string &accelerator,
                        const QemuFeatures &qemu);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_QEMU_PROBE_H
