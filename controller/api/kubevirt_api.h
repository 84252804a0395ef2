// kubevirt_api.h - the contract of hal_controller_api: KubeVirt-style manifests (kubevirt.io/v1
// VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceMigration; hal.dev/v1 NodePool)
// parsed, validated with field-named errors, defaulted, and translated to the HAL VM spec.
// halctl validates with exactly these functions, and so does hal-controller.
#ifndef HAL_CONTROLLER_API_KUBEVIRT_API_H
#define HAL_CONTROLLER_API_KUBEVIRT_API_H

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/spec/field_error.h"

namespace hal::controller {

/** One problem found in a manifest (path rooted at the object). */
using hal::FieldError;

/** Renders errors one per line as "<kind>/<name>: <path>: <message>". */
std::string format_errors(const nlohmann::json &object, const std::vector<FieldError> &errors);

/** Parses manifest text: YAML (one or more documents) or JSON (an object or an array); a
 *  `kind: List` / `*List` document is flattened into its items. Empty documents are skipped.
 *  Throws hal::Error(HAL_INVALID_ARGUMENT) naming the document index and line on a syntax error. */
std::vector<nlohmann::json> parse_manifests(std::string_view text);

/** Validates one object of any supported kind (dispatching on apiVersion/kind): required
 *  fields, types, value ranges, cross references (disks ↔ volumes, interfaces ↔ networks, NUMA
 *  fit), and every field HAL cannot honour or does not know rejected by its path. Returns the
 *  problems (empty = valid). */
std::vector<FieldError> validate_object(const nlohmann::json &object);

/** Returns a copy with defaults filled in: metadata.namespace "default" for namespaced kinds,
 *  runStrategy from `running` (true → Always, false/absent → Halted), memory guest/requests,
 *  cpu defaults, and KubeVirt's defaults for unspecified device fields. Call on a valid object. */
nlohmann::json apply_defaults(const nlohmann::json &object);

/** Kind names: canonical kind for a kind, plural or short name ("vm", "vms",
 *  "virtualmachine" → "VirtualMachine"; "vmi", "vmim", "np"/"nodepool", "node"), or nullopt. */
std::optional<std::string> canonical_kind(std::string_view name);

/** Resolves an image reference (containerDisk.image, kernelBoot.container.image) to a local
 *  directory or file, or nullopt when unknown. The controller's image catalogue provides it; the
 *  built-in name "hal/test-guest" is the project's test guest. */
using ImageResolver = std::function<std::optional<std::string>(std::string_view image)>;

/** What translation needs besides the VMI. */
struct TranslationContext {
  ImageResolver resolve_image;  ///< May be empty: every image reference is then an error.
  std::string vm_id;            ///< HAL VM id to use (the controller derives it from ns + name).
};

/** Translates a VirtualMachineInstance spec (or a VirtualMachine's spec.template.spec) to a HAL
 *  VM spec document (include/hal/schema/vm-spec.schema.json). Throws
 *  hal::Error(HAL_INVALID_ARGUMENT) naming the field when something cannot be translated (e.g.
 *  an image the resolver does not know). */
nlohmann::json to_hal_spec(const nlohmann::json &vmi_spec, const TranslationContext &context);

/** Added: where dedicated vCPUs were placed (needed when cpu.dedicatedCpuPlacement is set). */
struct CpuPlacement {
  /** The host CPU for each vCPU (index = vCPU); becomes the spec's pinning. */
  std::vector<uint32_t> host_cpus;
  /** The host NUMA node of each entry of host_cpus. Needed with cpu.numa.guestMappingPassthrough:
   *  one guest NUMA node per host node used, bound to it, memory split by vCPU share. */
  std::vector<uint32_t> host_numa_nodes;
};

/** Added: to_hal_spec with the placement of dedicated vCPUs. The two-argument to_hal_spec
 *  throws hal::Error(HAL_FAILED_PRECONDITION) for a VMI with dedicatedCpuPlacement, since the
 *  pinning cannot be known without the placement. */
nlohmann::json to_hal_spec(const nlohmann::json &vmi_spec, const TranslationContext &context,
                           const CpuPlacement &placement);

/** Resource requests of a VMI spec for scheduling. */
struct ResourceRequest {
  uint32_t vcpus = 0;           ///< Guest vCPUs (sockets × cores × threads).
  uint64_t memory_bytes = 0;    ///< Guest memory.
  bool dedicated_cpus = false;  ///< cpu.dedicatedCpuPlacement.
  bool needs_numa = false;      ///< cpu.numa.guestMappingPassthrough or guest NUMA nodes.
  bool needs_tdx = false;       ///< launchSecurity.tdx.
  bool live_migratable = true;  ///< False for TDX, host devices, or evictionStrategy None.
};

/** Computes the scheduling requirements of a (defaulted) VMI spec. */
ResourceRequest resource_request(const nlohmann::json &vmi_spec);

/** Added: the VirtualMachineInstance spec with KubeVirt's defaults filled in (the part of
 *  apply_defaults that applies to spec / spec.template.spec; idempotent). */
nlohmann::json default_vmi_spec(const nlohmann::json &vmi_spec);

/** Added: a NodePool's spec.hostPathRoots (absolute directories; empty when it declares none). */
std::vector<std::string> pool_host_path_roots(const nlohmann::json &node_pool);

/** Added: the hostDisk paths of a VMI spec (`path` is where that spec sits in its object, e.g.
 *  "spec.template.spec") that lie outside `roots`, the host path roots of NodePool `pool`, judged
 *  lexically ("." and ".." removed; the node resolves symlinks and checks again). One error per
 *  path, naming its field and the roots. Empty `roots` refuse every hostDisk. */
std::vector<FieldError> check_host_path_roots(const nlohmann::json &vmi_spec, std::string_view path,
                                              const std::string &pool,
                                              const std::vector<std::string> &roots);

/** Added: the HAL VM id for a namespaced object: the namespace with each '-' doubled, one '-',
 *  then the name ("default"/"web" → "default-web", "a-b"/"c" → "a--b-c", "a"/"b-c" → "a-b-c").
 *  Namespace "default" when empty. Injective over DNS-1123 labels (a label starts and ends with
 *  a letter or digit, so the first lone '-' is the separator): no two objects share a VM. Returns
 *  "" when ns or name is not a DNS-1123 label or the id would exceed 63 characters (validation
 *  refuses such objects, naming metadata.name). */
std::string hal_vm_id(std::string_view ns, std::string_view name);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_API_KUBEVIRT_API_H
