// host_topology.cc - sysfs/procfs readers behind discover_host_topology, TDX and accelerator
// detection, and the host-info JSON rendering.
#include "core/host/host_topology.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/host/cpulist.h"
#include "core/host/kvm_host.h"

namespace hal {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_file(const fs::path &path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trimmed(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// Finds "<key>: <n> kB" in a meminfo-style file (the key may be prefixed, e.g. "Node 0 ").
std::optional<uint64_t> meminfo_kib(const fs::path &path, const std::string &key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t pos = line.find(key + ":");
    if (pos == std::string::npos) continue;
    std::istringstream rest(line.substr(pos + key.size() + 1));
    uint64_t kib = 0;
    if (rest >> kib) return kib;
  }
  return std::nullopt;
}

bool is_number(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<uint32_t> online_cpus(const fs::path &root) {
  if (auto text = read_file(root / "sys/devices/system/cpu/online")) {
    if (auto ids = parse_cpulist(*text)) return *ids;
  }
  std::vector<uint32_t> ids;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(root / "sys/devices/system/cpu", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 3 && name.starts_with("cpu") && is_number(name.substr(3)) &&
        name.size() < 10) {
      ids.push_back(static_cast<uint32_t>(std::stoul(name.substr(3))));
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<HostNumaNode> numa_nodes(const fs::path &root) {
  std::vector<HostNumaNode> nodes;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(root / "sys/devices/system/node", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 4 || name.size() > 10 || !name.starts_with("node") ||
        !is_number(name.substr(4))) {
      continue;
    }
    HostNumaNode node;
    node.id = static_cast<uint32_t>(std::stoul(name.substr(4)));
    if (auto text = read_file(entry.path() / "cpulist")) {
      node.cpus = parse_cpulist(*text).value_or(std::vector<uint32_t>{});
    }
    node.memory_bytes = meminfo_kib(entry.path() / "meminfo", "MemTotal").value_or(0) * 1024;
    nodes.push_back(std::move(node));
  }
  std::sort(nodes.begin(), nodes.end(), [](const auto &a, const auto &b) { return a.id < b.id; });
  return nodes;
}

std::vector<HostPciDevice> pci_devices(const fs::path &root) {
  std::vector<HostPciDevice> devices;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(root / "sys/bus/pci/devices", ec)) {
    HostPciDevice dev;
    dev.address = entry.path().filename().string();
    const auto attr = [&](const char *name) {
      return trimmed(read_file(entry.path() / name).value_or(""));
    };
    const std::string numa = attr("numa_node");
    try {
      dev.numa_node = numa.empty() ? -1 : std::max(-1, std::stoi(numa));
    } catch (const std::exception &) {
      dev.numa_node = -1;
    }
    dev.vendor = attr("vendor");
    dev.device = attr("device");
    dev.class_code = attr("class");
    devices.push_back(std::move(dev));
  }
  std::sort(devices.begin(), devices.end(),
            [](const auto &a, const auto &b) { return a.address < b.address; });
  return devices;
}

bool cpu_has_flag(const fs::path &root, const std::string &flag) {
  std::ifstream in(root / "proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(
        line.substr(line.find(':') == std::string::npos ? line.size() : line.find(':') + 1));
    std::string word;
    while (words >> word) {
      if (word == flag) return true;
    }
    return false;  // the first CPU's flags are representative
  }
  return false;
}

}  // namespace

TdxSupport detect_tdx(const fs::path &root) {
  std::vector<std::string> missing;
  const auto param = read_file(root / "sys/module/kvm_intel/parameters/tdx");
  const std::string value = trimmed(param.value_or(""));
  if (!param) {
    missing.push_back(
        "kvm_intel has no tdx parameter (module not loaded or kernel without TDX "
        "host support: /sys/module/kvm_intel/parameters/tdx)");
  } else if (value != "Y" && value != "1") {
    missing.push_back("kvm_intel tdx parameter is \"" + value +
                      "\", not enabled (load kvm_intel with tdx=1)");
  }
  // /dev/kvm as kvm_host.h reads it: TDX guests need it to open read-write too.
  if (const KvmHostFacts kvm = read_kvm_host_facts(root); kvm.device_errno == ENOENT) {
    missing.push_back("/dev/kvm is missing");
  } else if (kvm.device_errno != 0) {
    missing.push_back(kvm.device_error);
  }
  TdxSupport out;
  out.supported = missing.empty();
  if (!out.supported) {
    if (!cpu_has_flag(root, "tdx_host_platform")) {
      missing.push_back("CPU flag tdx_host_platform is absent (TDX not enabled in BIOS?)");
    }
    for (const auto &m : missing) out.reason += (out.reason.empty() ? "" : "; ") + m;
  }
  return out;
}

std::string detect_accelerator(const fs::path &root) {
  return kvm_host_refusal(read_kvm_host_facts(root)).empty() ? "kvm" : "tcg";
}

HostTopology discover_host_topology(const fs::path &root) {
  HostTopology t;
  t.online_cpus = online_cpus(root);
  if (t.online_cpus.empty()) {
    // No sysfs CPU view: count processors in cpuinfo.
    std::ifstream in(root / "proc/cpuinfo");
    std::string line;
    uint32_t n = 0;
    while (std::getline(in, line)) {
      if (line.starts_with("processor")) t.online_cpus.push_back(n++);
    }
  }
  t.memory_bytes = meminfo_kib(root / "proc/meminfo", "MemTotal").value_or(0) * 1024;
  t.numa_nodes = numa_nodes(root);
  if (t.numa_nodes.empty()) {
    t.numa_nodes.push_back({0, t.online_cpus, t.memory_bytes});
  }
  if (t.memory_bytes == 0) {
    for (const auto &n : t.numa_nodes) t.memory_bytes += n.memory_bytes;
  }
  t.pci_devices = pci_devices(root);
  t.tdx = detect_tdx(root);
  t.accelerator = detect_accelerator(root);
  return t;
}

nlohmann::json host_info_json(const HostTopology &t) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto &n : t.numa_nodes) {
    nodes.push_back({{"id", n.id}, {"cpus", n.cpus}, {"memory", n.memory_bytes}});
  }
  nlohmann::json pci = nlohmann::json::array();
  const auto hex = [](const std::string &s) { return s.empty() ? std::string("0x0") : s; };
  for (const auto &d : t.pci_devices) {
    pci.push_back({{"address", d.address},
                   {"numaNode", d.numa_node},
                   {"vendor", hex(d.vendor)},
                   {"device", hex(d.device)},
                   {"class", hex(d.class_code)}});
  }
  return {{"cpus", t.online_cpus.size()},
          {"onlineCpus", t.online_cpus},
          {"memory", t.memory_bytes},
          {"numaNodes", nodes},
          {"pciDevices", pci},
          {"tdx", {{"supported", t.tdx.supported}, {"reason", t.tdx.reason}}},
          {"accelerator", t.accelerator}};
}

}  // namespace hal
