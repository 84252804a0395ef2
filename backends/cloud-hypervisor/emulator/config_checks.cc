// config_checks.cc - semantic VmConfig checks of the emulator (see config_checks.h).
#include "backends/cloud-hypervisor/emulator/config_checks.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/host/cpulist.h"

namespace hal::ch_emulator {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
json array_of(const json &object, const char *key) {
  return object.is_object() && object.contains(key) ? object[key] : json::array();
}
}  // namespace

std::vector<std::string> validation_errors(const json &config, const CheckContext &context) {
  std::vector<std::string> errors;
  // Payload: a kernel or firmware; TDX needs firmware.
  const json payload = config.value("payload", json::object());
  const json platform = config.value("platform", json::object());
  const bool tdx = platform.value("tdx", false);
  if (!payload.contains("kernel") && !payload.contains("firmware")) {
    errors.push_back("Error validating payload: neither kernel nor firmware given");
  }
  if (payload.contains("initramfs") && !payload.contains("kernel")) {
    errors.push_back("Error validating payload: initramfs given without a kernel");
  }
  if (tdx) {
    if (context.features.count("tdx") == 0) {
      errors.push_back("TDX support is not compiled into this binary (feature \"tdx\" absent)");
    }
    if (!payload.contains("firmware")) errors.push_back("TDX requires a firmware payload");
  }
  // vCPUs.
  const json cpus = config.value("cpus", json{{"boot_vcpus", 1}, {"max_vcpus", 1}});
  const uint32_t boot = cpus.value("boot_vcpus", 1u), max = cpus.value("max_vcpus", 1u);
  if (boot > max) errors.push_back("Max vCPUs lower than boot vCPUs");
  if (cpus.contains("topology")) {
    const json &t = cpus["topology"];
    if (t.value("threads_per_core", 1u) == 0 || t.value("cores_per_die", 1u) == 0 ||
        t.value("dies_per_package", 1u) == 0 || t.value("packages", 1u) == 0) {
      errors.push_back("No part of the CPU topology can be zero");
    }
    if (t.value("threads_per_core", 1u) > 2) {
      errors.push_back("CPU topology supports at most 2 threads per core");  // x86_64
    }
    uint64_t product = uint64_t{t.value("threads_per_core", 1u)} * t.value("cores_per_die", 1u) *
                       t.value("dies_per_package", 1u) * t.value("packages", 1u);
    if (product != max) {
      errors.push_back(
          "Invalid CPU topology: threads_per_core * cores_per_die * "
          "dies_per_package * packages (" +
          std::to_string(product) + ") != max_vcpus (" + std::to_string(max) + ")");
    }
  }
  std::set<uint32_t> pinned;
  for (const auto &a : array_of(cpus, "affinity")) {
    uint32_t v = a["vcpu"];
    if (v >= max) {
      errors.push_back("Invalid vCPU affinity: vCPU " + std::to_string(v) + " >= max_vcpus");
    }
    if (!pinned.insert(v).second) {
      errors.push_back("Invalid vCPU affinity: vCPU " + std::to_string(v) + " listed twice");
    }
    if (a["host_cpus"].empty()) {
      errors.push_back("Invalid vCPU affinity: vCPU " + std::to_string(v) + " has no host CPU");
    }
  }
  // Memory and zones.
  const json memory = config.value("memory", json{{"size", 512u << 20}});
  std::map<std::string, bool> zones;  // id -> claimed by a NUMA node
  uint64_t zone_total = 0;
  for (const auto &z : array_of(memory, "zones")) {
    std::string id = z["id"];
    if (zones.count(id)) errors.push_back("Duplicate memory zone identifier '" + id + "'");
    zones[id] = false;
    zone_total += z["size"].get<uint64_t>();
    if (z.value("size", uint64_t{0}) % 4096 != 0) {
      errors.push_back("Memory zone '" + id + "' size is not a multiple of 4 KiB");
    }
  }
  if (!zones.empty() && memory.value("size", uint64_t{0}) != 0) {
    errors.push_back("Invalid memory configuration: size must be 0 when memory zones are used");
  }
  if (zones.empty() && memory.value("size", uint64_t{0}) < (1u << 20)) {
    errors.push_back("Invalid memory configuration: size below 1 MiB");
  }
  if (!zones.empty() && zone_total == 0) errors.push_back("Memory zones have no memory");
  // PCI segments.
  const uint32_t segments = platform.value("num_pci_segments", 1u);
  auto check_segment = [&](const json &dev, const std::string &what) {
    uint32_t s = dev.value("pci_segment", 0u);
    if (s >= segments) {
      errors.push_back(what + ": PCI segment " + std::to_string(s) +
                       " >= platform.num_pci_segments (" + std::to_string(segments) + ")");
    }
  };
  std::set<std::string> device_ids;
  auto check_id = [&](const json &dev) {
    if (!dev.contains("id")) return;
    if (!device_ids.insert(dev["id"].get<std::string>()).second) {
      errors.push_back("Identifier " + dev["id"].get<std::string>() + " is not unique");
    }
  };
  for (const auto &d : array_of(config, "disks")) {
    check_segment(d, "disk");
    check_id(d);
    if (!d.contains("path") && !d.value("vhost_user", false)) {
      errors.push_back("disk: neither path nor vhost_user given");
    }
  }
  for (const auto &n : array_of(config, "net")) {
    check_segment(n, "net");
    check_id(n);
  }
  for (const auto &d : array_of(config, "devices")) {
    check_segment(d, "device");
    check_id(d);
  }
  // Serial/console socket or file modes need a path.
  for (const char *port : {"serial", "console"}) {
    if (!config.contains(port)) continue;
    const json &p = config[port];
    std::string mode = p["mode"];
    if (mode == "Socket" && !p.contains("socket")) {
      errors.push_back(std::string(port) + ": mode Socket needs a socket path");
    }
    if (mode == "File" && !p.contains("file")) {
      errors.push_back(std::string(port) + ": mode File needs a file path");
    }
  }
  // Guest NUMA nodes.
  std::set<uint32_t> node_ids, numa_cpus, numa_segments;
  for (const auto &n : array_of(config, "numa"))
    node_ids.insert(n["guest_numa_id"].get<uint32_t>());
  std::set<uint32_t> seen_nodes;
  for (const auto &n : array_of(config, "numa")) {
    const uint32_t id = n["guest_numa_id"];
    const std::string node = "numa node " + std::to_string(id);
    if (!seen_nodes.insert(id).second)
      errors.push_back("Duplicate guest NUMA node " + std::to_string(id));
    for (const auto &c : array_of(n, "cpus")) {
      uint32_t cpu = c;
      if (cpu >= max) {
        errors.push_back(node + ": vCPU " + std::to_string(cpu) + " >= max_vcpus (" +
                         std::to_string(max) + ")");
      }
      if (!numa_cpus.insert(cpu).second) {
        errors.push_back(node + ": vCPU " + std::to_string(cpu) + " already in another node");
      }
    }
    for (const auto &z : array_of(n, "memory_zones")) {
      std::string zone = z;
      auto it = zones.find(zone);
      if (it == zones.end()) {
        errors.push_back(node + ": memory zone '" + zone + "' does not exist in memory.zones");
      } else if (it->second) {
        errors.push_back(node + ": memory zone '" + zone + "' already belongs to another node");
      } else {
        it->second = true;
      }
    }
    for (const auto &d : array_of(n, "distances")) {
      uint32_t dest = d["destination"];
      if (!node_ids.count(dest)) {
        errors.push_back(node + ": distance to unknown node " + std::to_string(dest));
      }
    }
    for (const auto &s : array_of(n, "pci_segments")) {
      uint32_t seg = s;
      if (seg >= segments) {
        errors.push_back(node + ": PCI segment " + std::to_string(seg) +
                         " >= platform.num_pci_segments (" + std::to_string(segments) + ")");
      }
      if (!numa_segments.insert(seg).second) {
        errors.push_back(node + ": PCI segment " + std::to_string(seg) +
                         " already belongs to another node");
      }
    }
  }
  return errors;
}

namespace {
// True when this process has CAP_NET_ADMIN (bit 12 of CapEff).
bool can_admin_network() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      return (std::stoull(line.substr(7), nullptr, 16) >> 12) & 1;
    }
  }
  return false;
}
}  // namespace

std::vector<std::string> net_errors(const json &net) {
  if (net.value("vhost_user", false)) return {};
  const std::string tap = net.value("tap", "");
  const std::vector<std::string> prefix = {"Error from device manager",
                                           "Cannot create virtio-net device"};
  auto failed = [&](const std::string &why) {
    std::vector<std::string> out = prefix;
    out.push_back(why);
    return out;
  };
  const fs::path sys = fs::path("/sys/class/net") / tap;
  if (!tap.empty() && fs::exists(sys)) {
    if (!fs::exists(sys / "tun_flags"))
      return failed("Failed to open tap " + tap + ": not a tap device");
    return {};
  }
  if (!can_admin_network()) {
    return failed("Failed to create tap " + (tap.empty() ? std::string("vmtap%d") : tap) +
                  ": Operation not permitted (os error 1)");
  }
  return {};
}

std::vector<std::string> disk_errors(const json &disk) {
  if (!disk.contains("path")) return {};
  const std::string path = disk["path"];
  std::ifstream in(path, std::ios::binary);
  if (!in) return {"Failed to open disk image " + path};
  char magic[4] = {};
  in.read(magic, sizeof magic);
  const std::string detected =
      in.gcount() == 4 && std::string(magic, 4) == std::string("QFI\xfb", 4) ? "Qcow2" : "Raw";
  const std::string specified = disk.value("image_type", "Unknown");
  if (specified != "Unknown" && specified != detected) {
    return {"Error from device manager",
            "Disk image type does not match expected type: specified = " + specified +
                ", detected = " + detected};
  }
  return {};
}

std::vector<std::string> boot_errors(const json &config, const CheckContext &context) {
  std::vector<std::string> errors;
  for (const auto &d : array_of(config, "disks")) {
    for (auto &e : disk_errors(d)) errors.push_back(e);
  }
  for (const auto &n : array_of(config, "net")) {
    for (auto &e : net_errors(n)) errors.push_back(e);
  }
  const json payload = config.value("payload", json::object());
  for (const char *file : {"kernel", "initramfs", "firmware"}) {
    if (!payload.contains(file)) continue;
    std::string path = payload[file];
    if (::access(path.c_str(), R_OK) != 0) {
      errors.push_back(std::string("Cannot open ") + file + " " + path);
    }
  }
  if (config.value("platform", json::object()).value("tdx", false) && !context.kvm_tdx) {
    errors.push_back("TDX is not supported by KVM on this host");
  }
  for (const auto &z : array_of(config.value("memory", json::object()), "zones")) {
    if (!z.contains("host_numa_node")) continue;
    uint32_t node = z["host_numa_node"];
    if (!context.host_nodes.count(node)) {
      errors.push_back("Cannot bind memory zone '" + z["id"].get<std::string>() +
                       "' to host NUMA node " + std::to_string(node) + ": mbind: Invalid argument");
    }
  }
  for (const auto &a : array_of(config.value("cpus", json::object()), "affinity")) {
    for (const auto &c : a["host_cpus"]) {
      if (!context.host_cpus.count(c.get<uint32_t>())) {
        errors.push_back("Failed setting vCPU " + std::to_string(a["vcpu"].get<uint32_t>()) +
                         " affinity: host CPU " + std::to_string(c.get<uint32_t>()) +
                         " does not exist");
      }
    }
  }
  for (const auto &d : array_of(config, "devices")) {
    std::string path = d["path"];
    if (!fs::exists(path)) errors.push_back("VFIO device " + path + " does not exist");
  }
  return errors;
}

CheckContext host_context(const std::string &root) {
  CheckContext context;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(fs::path(root) / "sys/devices/system/node", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("node", 0) == 0 && name.size() > 4 &&
        name.find_first_not_of("0123456789", 4) == std::string::npos) {
      context.host_nodes.insert(static_cast<uint32_t>(std::stoul(name.substr(4))));
    }
  }
  if (context.host_nodes.empty()) context.host_nodes.insert(0);
  std::ifstream online(fs::path(root) / "sys/devices/system/cpu/online");
  std::string text;
  std::getline(online, text);
  if (auto cpus = hal::parse_cpulist(text)) {
    for (uint32_t c : *cpus) context.host_cpus.insert(c);
  }
  if (context.host_cpus.empty()) {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < n; ++c) context.host_cpus.insert(static_cast<uint32_t>(c));
  }
  return context;
}

}  // namespace hal::ch_emulator
