// vm_config.h - translation of a HAL VM spec into Cloud Hypervisor's VmConfig (vm.create body):
// payload, cpus (topology, affinity), memory and memory zones bound to host NUMA nodes, guest
// NUMA nodes (cpus, zones, distances, PCI segments for device locality), disks, net, host
// devices, serial socket and platform.tdx. Whatever Cloud Hypervisor cannot express is refused
// with an error naming the spec field.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_VM_CONFIG_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_VM_CONFIG_H

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/host/host_topology.h"
#include "core/spec/vm_spec.h"

namespace hal::cloud_hypervisor {

/** Host and per-VM facts the translation needs. */
struct VmConfigOptions {
  /** The serial socket path (used when spec.console.serial). */
  std::string serial_socket;
  /** The host, to check host NUMA nodes, CPUs and PCI devices the spec names. */
  HostTopology host;
  /** Firmware used when the spec asks for firmware boot without a path (may be empty). */
  std::string default_firmware;
};

/** The guest NUMA node a host device lands on: its guestNumaNode, else the first guest node
 *  bound to its hostNumaNode, else nullopt (no locality). */
std::optional<uint32_t> device_guest_node(const VmSpec &spec, const HostDeviceSpec &device);

/** The PCI segment that carries guest node `node`'s devices (0 = the default segment). */
uint32_t pci_segment_of_node(const VmSpec &spec, uint32_t node);

/** Builds the VmConfig. Throws hal::plugin::Failure: INVALID_ARGUMENT naming the spec field for
 *  host references that do not exist, UNSUPPORTED for what Cloud Hypervisor cannot do. */
nlohmann::json build_vm_config(const VmSpec &spec, const VmConfigOptions &options);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_VM_CONFIG_H
