// command_line.h - translates a typed hal::VmSpec into the argv of qemu-system-x86_64.
//
// Pure function of its inputs (no I/O), so every spec shape is unit-tested. Every option value
// that comes from the spec or the configuration is escaped (`,` -> `,,`) and always given with an
// explicit key (never as an implied first value), so a name or path containing `,` or `=` cannot
// inject options.
#ifndef HAL_BACKENDS_KVM_QEMU_COMMAND_LINE_H
#define HAL_BACKENDS_KVM_QEMU_COMMAND_LINE_H

#include <string>
#include <string_view>
#include <vector>

#include "core/spec/vm_spec.h"

namespace hal::kvm_qemu {

/** Everything besides the spec that shapes the command line. */
struct LaunchOptions {
  /** The QEMU binary (argv[0]). */
  std::string binary = "qemu-system-x86_64";
  /** "kvm" or "tcg". */
  std::string accelerator = "tcg";
  /** QMP control socket path (QEMU listens). */
  std::string qmp_socket;
  /** Serial console socket path (QEMU listens); unused when the spec has no serial console. */
  std::string console_socket;
  /** File that also receives everything written to the serial console; empty = none. */
  std::string console_log;
  /** Launch with -S (vCPUs stopped until `cont`). */
  bool paused = true;
  /** Launch as a migration target with `-incoming defer`. */
  bool incoming = false;
  /** UEFI code image used when the spec asks for UEFI without a path. */
  std::string default_uefi_code = "/usr/share/OVMF/OVMF_CODE.fd";
};

/** Escapes a QemuOpts/keyval option value: every `,` becomes `,,`. */
std::string escape_option_value(std::string_view value);

/** QEMU's -cpu model for the spec's cpu.model under `accelerator` ("host" needs KVM: under TCG
 *  it becomes "max"; empty means "host" with KVM and "max" with TCG). */
std::string cpu_model_for(const VmSpec &spec, std::string_view accelerator);

/** Builds the full argv (argv[0] = options.binary). Throws hal::plugin::Failure with
 *  HAL_UNSUPPORTED for spec features this backend cannot express (named) and
 *  HAL_INVALID_ARGUMENT for inconsistent specs (e.g. a device on a guest NUMA node that does not
 *  exist). */
std::vector<std::string> build_qemu_argv(const VmSpec &spec, const LaunchOptions &options);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_COMMAND_LINE_H
