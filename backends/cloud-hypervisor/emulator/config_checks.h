// config_checks.h - the emulator's checks of a VmConfig beyond its JSON schema, as Cloud
// Hypervisor makes them: VmConfig validation (cross-references between numa, memory zones,
// vCPUs, PCI segments; duplicate ids; payload shape; CPU topology with at most 2 threads per core
// on x86_64; TDX), which the VMM runs when it boots a VM and on every hot-plug, never at
// vm.create; and what building the VM finds on the host (host NUMA nodes and CPUs that must
// exist, payload files that must be readable, disk images whose detected type must match
// image_type, NICs' tap devices).
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

/** What VmConfig validation finds wrong with a schema-valid config (vm.boot, hot-plug); empty
 *  when nothing. */
std::vector<std::string> validation_errors(const nlohmann::json &config,
                                           const CheckContext &context);

/** What makes building the VM fail on this host (vm.boot after validation); empty when
 *  nothing. */
std::vector<std::string> boot_errors(const nlohmann::json &config, const CheckContext &context);

/** What makes opening one NIC's host side fail (NetConfig): a `tap` naming an interface that is
 *  not a tun/tap device, or a tap to create (a name that does not exist, or none at all: the VMM
 *  then creates one of its own) without CAP_NET_ADMIN. vhost-user NICs have no tap. */
std::vector<std::string> net_errors(const nlohmann::json &net);

/** What makes opening one disk (DiskConfig) fail: an unreadable image, or one whose detected
 *  type (QCOW2 by its magic, else raw) differs from its image_type. */
std::vector<std::string> disk_errors(const nlohmann::json &disk);

/** Reads host NUMA nodes and online CPUs from sysfs under `root`. */
CheckContext host_context(const std::string &root = "/");

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_CONFIG_CHECKS_H
