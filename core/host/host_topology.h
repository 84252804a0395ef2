// host_topology.h - discovery of the host's CPUs, memory, NUMA nodes, PCI devices, TDX support
// and accelerator from sysfs/procfs under a root prefix (so tests can use a fake tree).
#ifndef HAL_CORE_HOST_HOST_TOPOLOGY_H
#define HAL_CORE_HOST_HOST_TOPOLOGY_H

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal {

/** One host NUMA node. */
struct HostNumaNode {
  uint32_t id = 0;
  std::vector<uint32_t> cpus;
  uint64_t memory_bytes = 0;
};

/** One host PCI device; ids as sysfs spells them ("0x10de", "0x030200"). */
struct HostPciDevice {
  std::string address;     // "0000:3b:00.0"
  int32_t numa_node = -1;  // -1 = unknown / no affinity
  std::string vendor;
  std::string device;
  std::string class_code;
};

/** Whether this host can run TDX guests, and if not, what is missing. */
struct TdxSupport {
  bool supported = false;
  std::string reason;  // names every missing piece when unsupported; empty when supported
};

/** Everything host-info.schema.json reports. */
struct HostTopology {
  std::vector<uint32_t> online_cpus;
  uint64_t memory_bytes = 0;
  std::vector<HostNumaNode> numa_nodes;    // never empty after discovery: at least node 0
  std::vector<HostPciDevice> pci_devices;  // sorted by address
  TdxSupport tdx;
  std::string accelerator;  // "kvm" or "tcg"
};

/** Reads the host under `root` ("/" for the real one). Missing files give empty/zero values;
 *  a machine without node directories is one node 0 holding every online CPU and all memory. */
HostTopology discover_host_topology(const std::filesystem::path &root = "/");

/** TDX host support: kvm_intel's tdx parameter "Y"/"1" and /dev/kvm opening read-write
 *  (read_kvm_host_facts; "/dev/kvm is missing" when absent); the reason also notes a missing
 *  tdx_host_platform CPU flag. */
TdxSupport detect_tdx(const std::filesystem::path &root = "/");

/** "kvm" when the host's KVM can run stock guest kernels (kvm_host_refusal is empty), else "tcg".
 */
std::string detect_accelerator(const std::filesystem::path &root = "/");

/** The topology as a host-info.schema.json document. */
nlohmann::json host_info_json(const HostTopology &topology);

}  // namespace hal

#endif  // HAL_CORE_HOST_HOST_TOPOLOGY_H
