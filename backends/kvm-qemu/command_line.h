// command_line.h - translates a typed hal::VmSpec into the argv of qemu-system-x86_64.
//
// Pure function of its inputs (no I/O), so every spec shape is unit-tested. Every option value
// that comes from the spec or the configuration is escaped (`,` -> `,,`) and always given with an
// explicit key (never as an implied first value), so a name or path containing `,` or `=` cannot
// inject options.
#ifndef HAL_BACKENDS_KVM_QEMU_COMMAND_LINE_H
#define HAL_BACKENDS_KVM_QEMU_COMMAND_LINE_H

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host/host_topology.h"
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
  /** The unprivileged user QEMU switches to once it has opened its files ("" = stay the
   *  spawning user): `-run-with user=` when `run_with_option`, else `-runas`. */
  std::string run_as;
  /** QEMU has -run-with (9.1 and later). */
  bool run_with_option = false;
  /** UEFI code image used when the spec asks for UEFI without a path. */
  std::string default_uefi_code = "/usr/share/OVMF/OVMF_CODE.fd";
  /** The host (core/host's discover_host_topology under the backend's hostRoot). When set, host
   *  NUMA nodes and CPUs named by the spec are checked against it and a "pci" host device's host
   *  node is its sysfs numa_node; when unset, neither happens (the spec's hostNumaNode is used). */
  std::optional<HostTopology> host;
};

/** Escapes a QemuOpts/keyval option value: every `,` becomes `,,`. */
std::string escape_option_value(std::string_view value);

/** QEMU's -cpu model for the spec's cpu.model under `accelerator` ("host" needs KVM: under TCG
 *  it becomes "max"; empty means "host" with KVM and "max" with TCG). */
std::string cpu_model_for(const VmSpec &spec, std::string_view accelerator);

/** Checks the spec's host references against `host`: every spec.numa.nodes[].hostNodes and
 *  spec.hostDevices[].hostNumaNode must be a host NUMA node, every spec.cpu.pinning[].hostCpus
 *  an online host CPU (skipped when the host's CPU list could not be read). Throws
 *  hal::plugin::Failure(HAL_INVALID_ARGUMENT) naming the field, e.g.
 *  "spec.hostDevices[0].hostNumaNode: host NUMA node 101 does not exist (host has nodes 0)". */
void validate_host_references(const VmSpec &spec, const HostTopology &host);

/** Host device placement. A device's guest NUMA node is:
 *   1. its guestNumaNode when given (it must be in spec.numa);
 *   2. else, when the device has a host NUMA node - for type "pci" the host PCI device's sysfs
 *      numa_node (LaunchOptions::host), falling back to hostNumaNode when that is unknown; for
 *      "emulated" its hostNumaNode - the first guest node (spec.numa order) whose hostNodes
 *      contains that host node; with no such guest node, guest node 0 (the lowest guest node id)
 *      when the spec has a numa section;
 *   3. else none.
 *  A device with a guest node sits behind a pcie-root-port on a pxb-pcie expander with
 *  numa_node = that guest node (one expander per guest node); a device with none, or any device
 *  of a spec without a numa section, is plugged into pcie.0 (no pxb). */
std::optional<uint32_t> guest_node_for_device(const VmSpec &spec, size_t device_index,
                                              const std::optional<HostTopology> &host);

/** QEMU's seccomp sandbox: `on,obsolete=deny,elevateprivileges=…,spawn=deny,resourcecontrol=deny`
 *  (no obsolete syscalls, no fork/exec, no scheduler or priority changes; vCPU pinning is done by
 *  the backend from outside). elevateprivileges is deny, except with run_as before QEMU 9.1: there
 *  the filter is installed before -runas changes the user, so set*uid must stay allowed (the
 *  process then has no root ids and no capabilities left to regain). */
std::string sandbox_option(const LaunchOptions &options);

/** Builds the full argv (argv[0] = options.binary), always with -sandbox (sandbox_option) and,
 *  when options.run_as is set, the switch to that user. Throws hal::plugin::Failure with
 *  HAL_UNSUPPORTED for spec features this backend cannot express (named) and
 *  HAL_INVALID_ARGUMENT for inconsistent specs (e.g. a device on a guest NUMA node that does not
 *  exist, or - when options.host is set - a host NUMA node or CPU the host does not have, see
 *  validate_host_references). */
std::vector<std::string> build_qemu_argv(const VmSpec &spec, const LaunchOptions &options);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_COMMAND_LINE_H
