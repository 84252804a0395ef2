// vm_spec.h - the typed VM spec model (docs/vm-spec-shape.md) so backends translate specs
// without re-walking JSON. Defaults of omitted optional fields are filled in.
#ifndef HAL_CORE_SPEC_VM_SPEC_H
#define HAL_CORE_SPEC_VM_SPEC_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/spec/json_schema_validator.h"

namespace hal {

/** Guest CPU topology; sockets * cores * threads == CpuSpec::vcpus. */
struct CpuTopology {
  uint32_t sockets = 1;
  uint32_t cores = 1;
  uint32_t threads = 1;
};

/** One vCPU pinned to a set of host CPUs. */
struct VcpuPin {
  uint32_t vcpu = 0;
  std::vector<uint32_t> host_cpus;
};

/** The `cpu` section. `model` is empty when omitted (backend default). */
struct CpuSpec {
  uint32_t vcpus = 1;
  std::optional<CpuTopology> topology;
  std::string model;
  std::vector<VcpuPin> pinning;
};

/** The `memory` section, in bytes; hugepage_bytes == 0 means no hugepages. */
struct MemorySpec {
  uint64_t size_bytes = 0;
  uint64_t hugepage_bytes = 0;
};

/** Host memory policy of a guest NUMA node. */
enum class NumaPolicy { kBind, kPreferred, kInterleave };

/** One guest NUMA node; host_nodes is empty when unbound. */
struct NumaNodeSpec {
  uint32_t id = 0;
  std::vector<uint32_t> vcpus;
  uint64_t memory_bytes = 0;
  std::vector<uint32_t> host_nodes;
  NumaPolicy policy = NumaPolicy::kBind;
};

/** One disk. format: "raw"|"qcow2"; bus: "virtio"|"scsi"|"sata". */
struct DiskSpec {
  std::string name;
  std::string path;
  std::string format = "raw";
  bool read_only = false;
  std::string bus = "virtio";
};

/** One NIC. type: "user"|"tap"|"bridge"; model: "virtio"|"e1000"|"e1000e"|"rtl8139". */
struct NicSpec {
  std::string name;
  std::string type = "user";
  std::string model = "virtio";
  std::string mac;  // empty = backend chooses
};

/** Kind of host device. */
enum class HostDeviceType { kPci, kEmulated };

/** A passed-through PCI device or an emulated stand-in, with NUMA locality. */
struct HostDeviceSpec {
  std::string name;
  HostDeviceType type = HostDeviceType::kPci;
  std::string pci_address;  // type kPci
  std::string model;        // type kEmulated
  std::optional<uint32_t> host_numa_node;
  std::optional<uint32_t> guest_numa_node;
};

/** Firmware kind. */
enum class FirmwareType { kBios, kUefi };

/** Firmware boot; path empty = the backend's default image. */
struct FirmwareSpec {
  FirmwareType type = FirmwareType::kBios;
  std::string path;
};

/** The `boot` section: either kernel (with optional initrd/cmdline) or firmware. */
struct BootSpec {
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::optional<FirmwareSpec> firmware;
};

/** Launch security kind. */
enum class LaunchSecurityType { kNone, kTdx };

/** The `launchSecurity` section. */
struct LaunchSecuritySpec {
  LaunchSecurityType type = LaunchSecurityType::kNone;
  std::string tdx_attributes;  // "0x10000000" or empty
  std::string tdx_mr_config_id;
  std::string tdx_mr_owner;
};

/** The `migration` policy with its defaults. */
struct MigrationPolicy {
  uint32_t max_downtime_ms = 300;
  uint32_t bandwidth_mibps = 0;  // 0 = unlimited
  bool auto_converge = true;
  bool post_copy = false;
  uint32_t multifd_channels = 0;
  uint32_t completion_timeout_per_gib_seconds = 150;
};

/** A whole, validated VM spec. */
struct VmSpec {
  std::string api_version = "hal.dev/v1";
  std::string name;
  std::string machine;  // "" = the backend's default
  CpuSpec cpu;
  MemorySpec memory;
  std::vector<NumaNodeSpec> numa_nodes;  // empty = no guest NUMA section
  std::vector<DiskSpec> disks;
  std::vector<NicSpec> nics;
  std::vector<HostDeviceSpec> host_devices;
  std::optional<BootSpec> boot;
  bool serial_console = true;
  LaunchSecuritySpec launch_security;
  MigrationPolicy migration;
};

/** Thrown by parse_vm_spec; what() is format_errors(errors()). */
class VmSpecError : public std::invalid_argument {
 public:
  explicit VmSpecError(std::vector<FieldError> errors);
  /** The individual problems. */
  const std::vector<FieldError> &errors() const { return errors_; }

 private:
  std::vector<FieldError> errors_;
};

/** Validates (validate_vm_spec) and converts; throws VmSpecError when invalid. */
VmSpec parse_vm_spec(const nlohmann::json &spec);

/** The effective spec as JSON with every default written out (for vm-info's `spec`). */
nlohmann::json to_json(const VmSpec &spec);

/** "bind" / "preferred" / "interleave". */
const char *to_string(NumaPolicy policy);

}  // namespace hal

#endif  // HAL_CORE_SPEC_VM_SPEC_H
