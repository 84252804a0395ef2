// config_checks.h - the emulator's checks of a VmConfig beyond its JSON schema: the rules the
// real VMM enforces when a VM is created (cross-references between numa, memory zones, vCPUs,
// PCI segments; duplicate ids; payload shape; TDX) and when it boots (host NUMA nodes and CPUs
// that must exist, payload files that must be readable).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONFIG_CHECKS_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONFIG_CHECKS_H

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace hal::ch_emulator {

/** Facts about the VMM binary and the host the checks depend on. */
struct CheckContext {
  /** Features the "binary" was built with (vmm.ping "features"), e.g. "tdx". */
  std::set<std::string> features;
  /** Host NUMA node ids that exist. */
  std::set<uint32_t> host_nodes;
  /** Host CPUs that are online. */
  std::set<uint32_t> host_cpus;
  /** True when /dev/kvm (and, for TDX, KVM TDX) is usable. */
  bool kvm_tdx = false;
};

/** Problems with a schema-valid VmConfig that vm.create refuses; empty when none. */
std::vector<std::string> create_errors(const nlohmann::json &config, const CheckContext &context);

/** Problems that make vm.boot fail on this host; empty when none. */
std::vector<std::string> boot_errors(const nlohmann::json &config, const CheckContext &context);

/** Reads host NUMA nodes and online CPUs from sysfs under `root`. */
CheckContext host_context(const std::string &root = "/");

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONFIG_CHECKS_H
