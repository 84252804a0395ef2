// vm_spec.cc - conversion between validated spec JSON and the typed hal::VmSpec model.
#include "core/spec/vm_spec.h"

#include "core/spec/quantity.h"
#include "core/spec/vm_spec_validation.h"

namespace hal {
namespace {

using nlohmann::json;

std::vector<uint32_t> id_list(const json &j) {
  return j.get<std::vector<uint32_t>>();
}

uint64_t bytes(const json &quantity) {
  return parse_quantity(quantity.get<std::string>()).value();
}

NumaPolicy policy_from(const std::string &s) {
  if (s == "preferred") return NumaPolicy::kPreferred;
  if (s == "interleave") return NumaPolicy::kInterleave;
  return NumaPolicy::kBind;
}

template <typename T>
std::optional<T> opt(const json &obj, const char *key) {
  if (!obj.contains(key)) return std::nullopt;
  return obj[key].get<T>();
}

}  // namespace

VmSpecError::VmSpecError(std::vector<FieldError> errors)
    : std::invalid_argument(format_errors(errors)), errors_(std::move(errors)) {}

const char *to_string(NumaPolicy policy) {
  switch (policy) {
    case NumaPolicy::kPreferred:
      return "preferred";
    case NumaPolicy::kInterleave:
      return "interleave";
    case NumaPolicy::kBind:
      break;
  }
  return "bind";
}

VmSpec parse_vm_spec(const nlohmann::json &j) {
  if (auto errors = validate_vm_spec(j); !errors.empty()) throw VmSpecError(std::move(errors));
  VmSpec s;
  s.api_version = j["apiVersion"];
  s.name = j["name"];
  s.machine = j.value("machine", "");

  const json &cpu = j["cpu"];
  s.cpu.vcpus = cpu["vcpus"];
  if (cpu.contains("topology")) {
    const json &t = cpu["topology"];
    s.cpu.topology = CpuTopology{t["sockets"], t["cores"], t["threads"]};
  }
  s.cpu.model = cpu.value("model", "");
  for (const json &p : cpu.value("pinning", json::array())) {
    s.cpu.pinning.push_back({p["vcpu"], id_list(p["hostCpus"])});
  }

  const json &mem = j["memory"];
  s.memory.size_bytes = bytes(mem["size"]);
  const std::string hugepages = mem.value("hugepages", "none");
  s.memory.hugepage_bytes = hugepages == "none" ? 0 : parse_quantity(hugepages).value();

  if (j.contains("numa")) {
    for (const json &n : j["numa"]["nodes"]) {
      NumaNodeSpec node;
      node.id = n["id"];
      node.vcpus = id_list(n["vcpus"]);
      node.memory_bytes = bytes(n["memory"]);
      if (n.contains("hostNodes")) node.host_nodes = id_list(n["hostNodes"]);
      node.policy = policy_from(n.value("policy", "bind"));
      s.numa_nodes.push_back(std::move(node));
    }
  }
  for (const json &d : j.value("disks", json::array())) {
    s.disks.push_back({d["name"], d["path"], d.value("format", "raw"), d.value("readOnly", false),
                       d.value("bus", "virtio")});
  }
  for (const json &n : j.value("nics", json::array())) {
    s.nics.push_back({n["name"], n["type"], n.value("model", "virtio"), n.value("mac", "")});
  }
  for (const json &d : j.value("hostDevices", json::array())) {
    HostDeviceSpec dev;
    dev.name = d["name"];
    dev.type = d["type"] == "pci" ? HostDeviceType::kPci : HostDeviceType::kEmulated;
    dev.pci_address = d.value("pciAddress", "");
    dev.model = d.value("model", "");
    dev.host_numa_node = opt<uint32_t>(d, "hostNumaNode");
    dev.guest_numa_node = opt<uint32_t>(d, "guestNumaNode");
    s.host_devices.push_back(std::move(dev));
  }
  if (j.contains("boot")) {
    const json &b = j["boot"];
    BootSpec boot{b.value("kernel", ""), b.value("initrd", ""), b.value("cmdline", ""), {}};
    if (b.contains("firmware")) {
      const json &f = b["firmware"];
      boot.firmware = FirmwareSpec{f["type"] == "uefi" ? FirmwareType::kUefi : FirmwareType::kBios,
                                   f.value("path", "")};
    }
    s.boot = std::move(boot);
  }
  if (j.contains("console")) s.serial_console = j["console"].value("serial", true);
  if (j.contains("launchSecurity")) {
    const json &ls = j["launchSecurity"];
    s.launch_security.type =
        ls["type"] == "tdx" ? LaunchSecurityType::kTdx : LaunchSecurityType::kNone;
    const json tdx = ls.value("tdx", json::object());
    s.launch_security.tdx_attributes = tdx.value("attributes", "");
    s.launch_security.tdx_mr_config_id = tdx.value("mrConfigId", "");
    s.launch_security.tdx_mr_owner = tdx.value("mrOwner", "");
  }
  const json mig = j.value("migration", json::object());
  MigrationPolicy &m = s.migration;
  m.max_downtime_ms = mig.value("maxDowntimeMs", m.max_downtime_ms);
  m.bandwidth_mibps = mig.value("bandwidthMiBps", m.bandwidth_mibps);
  m.auto_converge = mig.value("autoConverge", m.auto_converge);
  m.post_copy = mig.value("postCopy", m.post_copy);
  m.multifd_channels = mig.value("multifdChannels", m.multifd_channels);
  m.completion_timeout_per_gib_seconds =
      mig.value("completionTimeoutPerGiBSeconds", m.completion_timeout_per_gib_seconds);
  return s;
}

nlohmann::json to_json(const VmSpec &s) {
  json cpu = {{"vcpus", s.cpu.vcpus}};
  if (s.cpu.topology) {
    cpu["topology"] = {{"sockets", s.cpu.topology->sockets},
                       {"cores", s.cpu.topology->cores},
                       {"threads", s.cpu.topology->threads}};
  }
  if (!s.cpu.model.empty()) cpu["model"] = s.cpu.model;
  if (!s.cpu.pinning.empty()) {
    cpu["pinning"] = json::array();
    for (const auto &p : s.cpu.pinning)
      cpu["pinning"].push_back({{"vcpu", p.vcpu}, {"hostCpus", p.host_cpus}});
  }
  json j = {{"apiVersion", s.api_version},
            {"name", s.name},
            {"cpu", cpu},
            {"memory",
             {{"size", format_quantity(s.memory.size_bytes)},
              {"hugepages",
               s.memory.hugepage_bytes == 0 ? "none" : format_quantity(s.memory.hugepage_bytes)}}}};
  if (!s.machine.empty()) j["machine"] = s.machine;
  if (!s.numa_nodes.empty()) {
    json nodes = json::array();
    for (const auto &n : s.numa_nodes) {
      json node = {{"id", n.id},
                   {"vcpus", n.vcpus},
                   {"memory", format_quantity(n.memory_bytes)},
                   {"policy", to_string(n.policy)}};
      if (!n.host_nodes.empty()) node["hostNodes"] = n.host_nodes;
      nodes.push_back(std::move(node));
    }
    j["numa"] = {{"nodes", nodes}};
  }
  if (!s.disks.empty()) {
    j["disks"] = json::array();
    for (const auto &d : s.disks) {
      j["disks"].push_back({{"name", d.name},
                            {"path", d.path},
                            {"format", d.format},
                            {"readOnly", d.read_only},
                            {"bus", d.bus}});
    }
  }
  if (!s.nics.empty()) {
    j["nics"] = json::array();
    for (const auto &n : s.nics) {
      json nic = {{"name", n.name}, {"type", n.type}, {"model", n.model}};
      if (!n.mac.empty()) nic["mac"] = n.mac;
      j["nics"].push_back(std::move(nic));
    }
  }
  if (!s.host_devices.empty()) {
    j["hostDevices"] = json::array();
    for (const auto &d : s.host_devices) {
      json dev = {{"name", d.name}, {"type", d.type == HostDeviceType::kPci ? "pci" : "emulated"}};
      if (!d.pci_address.empty()) dev["pciAddress"] = d.pci_address;
      if (!d.model.empty()) dev["model"] = d.model;
      if (d.host_numa_node) dev["hostNumaNode"] = *d.host_numa_node;
      if (d.guest_numa_node) dev["guestNumaNode"] = *d.guest_numa_node;
      j["hostDevices"].push_back(std::move(dev));
    }
  }
  if (s.boot) {
    json boot = json::object();
    if (!s.boot->kernel.empty()) boot["kernel"] = s.boot->kernel;
    if (!s.boot->initrd.empty()) boot["initrd"] = s.boot->initrd;
    if (!s.boot->cmdline.empty()) boot["cmdline"] = s.boot->cmdline;
    if (s.boot->firmware) {
      boot["firmware"] = {
          {"type", s.boot->firmware->type == FirmwareType::kUefi ? "uefi" : "bios"}};
      if (!s.boot->firmware->path.empty()) boot["firmware"]["path"] = s.boot->firmware->path;
    }
    j["boot"] = std::move(boot);
  }
  j["console"] = {{"serial", s.serial_console}};
  if (s.launch_security.type == LaunchSecurityType::kTdx) {
    json tdx = {{"mrConfigId", s.launch_security.tdx_mr_config_id},
                {"mrOwner", s.launch_security.tdx_mr_owner}};
    if (!s.launch_security.tdx_attributes.empty())
      tdx["attributes"] = s.launch_security.tdx_attributes;
    j["launchSecurity"] = {{"type", "tdx"}, {"tdx", tdx}};
  }
  const MigrationPolicy &m = s.migration;
  j["migration"] = {{"maxDowntimeMs", m.max_downtime_ms},
                    {"bandwidthMiBps", m.bandwidth_mibps},
                    {"autoConverge", m.auto_converge},
                    {"postCopy", m.post_copy},
                    {"multifdChannels", m.multifd_channels},
                    {"completionTimeoutPerGiBSeconds", m.completion_timeout_per_gib_seconds}};
  return j;
}

}  // namespace hal
