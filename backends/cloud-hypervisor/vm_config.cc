// vm_config.cc - HAL spec -> Cloud Hypervisor VmConfig (see vm_config.h).
#include "backends/cloud-hypervisor/vm_config.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {
using hal::plugin::Failure;
using nlohmann::json;

namespace {
[[noreturn]] void invalid(const std::string &field, const std::string &why) {
  throw Failure(HAL_INVALID_ARGUMENT, "spec." + field + ": " + why);
}
[[noreturn]] void unsupported(const std::string &field, const std::string &why) {
  throw Failure(HAL_UNSUPPORTED, "spec." + field + ": " + why + " (cloud-hypervisor)");
}
bool host_has_node(const HostTopology &host, uint32_t node) {
  return std::any_of(host.numa_nodes.begin(), host.numa_nodes.end(),
                     [&](const HostNumaNode &n) { return n.id == node; });
}
// The host tap device a virtio-net device connects to: the one named like the NIC. Without a
// tap name the VMM would create a tap of its own, connected to nothing.
std::string tap_name(const std::string &name, const std::string &field) {
  if (name.size() > 15) {
    invalid(field + ".name", "'" + name +
                                 "' names the NIC's host tap device, and a Linux interface name "
                                 "has at most 15 characters");
  }
  return name;
}
// A spec path as the VMM must see it: the VMM runs in the VM's state dir, so a relative path is
// made absolute against the backend's own working directory, where the caller meant it.
std::string host_path(const std::string &path) {
  if (path.empty() || path.front() == '/') return path;
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.string();
}
// NIC models Cloud Hypervisor can stand in for: it only has virtio-net.
const std::set<std::string> kNicStandIns = {"virtio", "virtio-net", "e1000", "e1000e", "rtl8139"};
}  // namespace

std::optional<uint32_t> device_guest_node(const VmSpec &spec, const HostDeviceSpec &device) {
  if (device.guest_numa_node) return device.guest_numa_node;
  if (!device.host_numa_node) return std::nullopt;
  for (const NumaNodeSpec &node : spec.numa_nodes) {
    if (std::find(node.host_nodes.begin(), node.host_nodes.end(), *device.host_numa_node) !=
        node.host_nodes.end()) {
      return node.id;
    }
  }
  return std::nullopt;
}

uint32_t pci_segment_of_node(const VmSpec &spec, uint32_t node) {
  for (size_t i = 0; i < spec.numa_nodes.size(); ++i) {
    if (spec.numa_nodes[i].id == node) return static_cast<uint32_t>(i + 1);
  }
  return 0;
}

json build_vm_config(const VmSpec &spec, const VmConfigOptions &options) {
  json config = json::object();
  if (!spec.machine.empty()) unsupported("machine", "Cloud Hypervisor has no machine types");
  // ---- payload
  json payload = json::object();
  if (spec.boot && !spec.boot->kernel.empty()) {
    payload["kernel"] = host_path(spec.boot->kernel);
    if (!spec.boot->initrd.empty()) payload["initramfs"] = host_path(spec.boot->initrd);
    if (!spec.boot->cmdline.empty()) payload["cmdline"] = spec.boot->cmdline;
  } else if (spec.boot && spec.boot->firmware) {
    if (spec.boot->firmware->type == FirmwareType::kBios) {
      unsupported("boot.firmware.type", "legacy BIOS boot is not available; use uefi");
    }
    std::string path =
        spec.boot->firmware->path.empty() ? options.default_firmware : spec.boot->firmware->path;
    if (path.empty()) {
      invalid("boot.firmware.path",
              "no firmware given and no default firmware configured "
              "(backend config \"firmware\")");
    }
    payload["firmware"] = host_path(path);
  } else {
    invalid("boot", "Cloud Hypervisor needs a kernel or a firmware to boot");
  }
  config["payload"] = payload;
  // ---- cpus
  json cpus = {{"boot_vcpus", spec.cpu.vcpus}, {"max_vcpus", spec.cpu.vcpus}};
  if (spec.cpu.topology) {
    if (spec.cpu.topology->threads > 2) {
      unsupported("cpu.topology.threads",
                  "Cloud Hypervisor allows at most 2 threads per core on x86_64, not " +
                      std::to_string(spec.cpu.topology->threads));
    }
    cpus["topology"] = {{"threads_per_core", spec.cpu.topology->threads},
                        {"cores_per_die", spec.cpu.topology->cores},
                        {"dies_per_package", 1},
                        {"packages", spec.cpu.topology->sockets}};
  }
  if (!spec.cpu.model.empty() && spec.cpu.model != "host") {
    unsupported("cpu.model",
                "CPU model '" + spec.cpu.model +
                    "' cannot be chosen; Cloud Hypervisor always exposes the host CPU");
  }
  std::set<uint32_t> host_cpus(options.host.online_cpus.begin(), options.host.online_cpus.end());
  if (!spec.cpu.pinning.empty()) {
    json affinity = json::array();
    for (size_t i = 0; i < spec.cpu.pinning.size(); ++i) {
      const VcpuPin &pin = spec.cpu.pinning[i];
      if (pin.vcpu >= spec.cpu.vcpus) {
        invalid("cpu.pinning[" + std::to_string(i) + "].vcpu",
                "vCPU " + std::to_string(pin.vcpu) + " does not exist");
      }
      for (uint32_t c : pin.host_cpus) {
        if (!host_cpus.empty() && !host_cpus.count(c)) {
          invalid("cpu.pinning[" + std::to_string(i) + "].hostCpus",
                  "host CPU " + std::to_string(c) + " does not exist or is offline");
        }
      }
      affinity.push_back({{"vcpu", pin.vcpu}, {"host_cpus", pin.host_cpus}});
    }
    cpus["affinity"] = affinity;
  }
  config["cpus"] = cpus;
  // ---- memory (one zone per guest NUMA node when there are nodes)
  const bool hugepages = spec.memory.hugepage_bytes != 0;
  json memory;
  if (spec.numa_nodes.empty()) {
    memory = {{"size", spec.memory.size_bytes}};
    if (hugepages) {
      memory["hugepages"] = true;
      memory["hugepage_size"] = spec.memory.hugepage_bytes;
    }
  } else {
    memory = {{"size", 0}, {"zones", json::array()}};
    json numa = json::array();
    for (size_t i = 0; i < spec.numa_nodes.size(); ++i) {
      const NumaNodeSpec &node = spec.numa_nodes[i];
      const std::string field = "numa.nodes[" + std::to_string(i) + "]";
      json zone = {{"id", "mem" + std::to_string(node.id)}, {"size", node.memory_bytes}};
      if (hugepages) {
        zone["hugepages"] = true;
        zone["hugepage_size"] = spec.memory.hugepage_bytes;
      }
      if (node.host_nodes.size() > 1) {
        unsupported(field + ".hostNodes",
                    "a memory zone binds to exactly one host NUMA node, not " +
                        std::to_string(node.host_nodes.size()));
      }
      if (!node.host_nodes.empty()) {
        if (node.policy == NumaPolicy::kInterleave) {
          unsupported(field + ".policy", "interleave needs several host nodes per zone");
        }
        if (!host_has_node(options.host, node.host_nodes[0])) {
          invalid(field + ".hostNodes",
                  "host NUMA node " + std::to_string(node.host_nodes[0]) + " does not exist");
        }
        zone["host_numa_node"] = node.host_nodes[0];
      }
      memory["zones"].push_back(zone);
      json guest = {{"guest_numa_id", node.id},
                    {"cpus", node.vcpus},
                    {"memory_zones", {"mem" + std::to_string(node.id)}},
                    {"pci_segments", {i + 1}}};
      json distances = json::array();
      for (const NumaNodeSpec &other : spec.numa_nodes) {
        if (other.id != node.id) distances.push_back({{"destination", other.id}, {"distance", 20}});
      }
      if (!distances.empty()) guest["distances"] = distances;
      numa.push_back(guest);
    }
    config["numa"] = numa;
    config["platform"] = {{"num_pci_segments", spec.numa_nodes.size() + 1}};
  }
  config["memory"] = memory;
  // ---- disks
  if (!spec.disks.empty()) {
    json disks = json::array();
    for (size_t i = 0; i < spec.disks.size(); ++i) {
      const DiskSpec &d = spec.disks[i];
      if (d.bus != "virtio") {
        unsupported("disks[" + std::to_string(i) + "].bus",
                    "only virtio disks exist, not " + d.bus);
      }
      disks.push_back({{"id", d.name},
                       {"path", host_path(d.path)},
                       {"readonly", d.read_only},
                       {"image_type", d.format == "qcow2" ? "Qcow2" : "Raw"}});
    }
    config["disks"] = disks;
  }
  // ---- NICs and emulated device stand-ins
  json net = json::array();
  for (size_t i = 0; i < spec.nics.size(); ++i) {
    const NicSpec &n = spec.nics[i];
    if (n.model != "virtio") {
      unsupported("nics[" + std::to_string(i) + "].model",
                  "only virtio-net exists, not " + n.model);
    }
    if (n.type != "tap") {
      unsupported("nics[" + std::to_string(i) + "].type",
                  n.type == "user"
                      ? "user-mode networking does not exist; use tap"
                      : "a NIC connects only to a tap device, not to a " + n.type +
                            "; put a tap named '" + n.name + "' on it and use type tap");
    }
    json entry = {{"id", n.name}, {"tap", tap_name(n.name, "nics[" + std::to_string(i) + "]")}};
    if (!n.mac.empty()) entry["mac"] = n.mac;
    net.push_back(entry);
  }
  json devices = json::array();
  std::set<std::string> host_pci;
  for (const HostPciDevice &d : options.host.pci_devices) host_pci.insert(d.address);
  for (size_t i = 0; i < spec.host_devices.size(); ++i) {
    const HostDeviceSpec &d = spec.host_devices[i];
    const std::string field = "hostDevices[" + std::to_string(i) + "]";
    if (d.host_numa_node && !host_has_node(options.host, *d.host_numa_node)) {
      invalid(field + ".hostNumaNode",
              "host NUMA node " + std::to_string(*d.host_numa_node) + " does not exist");
    }
    if (d.guest_numa_node &&
        std::none_of(spec.numa_nodes.begin(), spec.numa_nodes.end(),
                     [&](const NumaNodeSpec &n) { return n.id == *d.guest_numa_node; })) {
      invalid(field + ".guestNumaNode",
              "guest NUMA node " + std::to_string(*d.guest_numa_node) + " is not in spec.numa");
    }
    std::optional<uint32_t> node = device_guest_node(spec, d);
    const uint32_t segment = node ? pci_segment_of_node(spec, *node) : 0;
    if (d.type == HostDeviceType::kPci) {
      if (!host_pci.count(d.pci_address)) {
        invalid(field + ".pciAddress", "host PCI device " + d.pci_address + " does not exist");
      }
      devices.push_back({{"id", d.name},
                         {"path", "/sys/bus/pci/devices/" + d.pci_address + "/"},
                         {"pci_segment", segment}});
    } else {
      if (!kNicStandIns.count(d.model)) {
        unsupported(field + ".model", "no emulated '" + d.model +
                                          "'; Cloud Hypervisor only has virtio devices "
                                          "(NIC models stand in as virtio-net)");
      }
      net.push_back({{"id", d.name}, {"tap", tap_name(d.name, field)}, {"pci_segment", segment}});
    }
  }
  if (!net.empty()) config["net"] = net;
  if (!devices.empty()) config["devices"] = devices;
  // ---- console
  if (spec.serial_console) {
    config["serial"] = {{"mode", "Socket"}, {"socket", options.serial_socket}};
  } else {
    config["serial"] = {{"mode", "Null"}};
  }
  config["console"] = {{"mode", "Off"}};
  // A pvpanic device: a guest kernel panic becomes a guest/panic event.
  config["pvpanic"] = true;
  // ---- launch security
  if (spec.launch_security.type == LaunchSecurityType::kTdx) {
    if (!spec.launch_security.tdx_mr_config_id.empty() ||
        !spec.launch_security.tdx_mr_owner.empty() ||
        !spec.launch_security.tdx_attributes.empty()) {
      unsupported("launchSecurity.tdx",
                  "attributes, mrConfigId and mrOwner cannot be set through the API");
    }
    if (!payload.contains("firmware")) {
      invalid("boot.firmware", "a TDX guest boots from firmware (TDVF/TD-shim), not a kernel");
    }
    config["platform"]["tdx"] = true;
  }
  return config;
}

}  // namespace hal::cloud_hypervisor
