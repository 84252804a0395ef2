// defaults.cc - apply_defaults / default_vmi_spec: KubeVirt's defaults (namespace, runStrategy,
// CPU topology, guest memory and its request, disk targets and bus, the pod network interface,
// serial console, termination grace period) filled into a valid object.
#include <algorithm>
#include <set>

#include "controller/api/kubevirt_api.h"
#include "controller/api/rbac_api.h"
#include "controller/api/vmi_model.h"

namespace hal::controller {

using nlohmann::json;

namespace {

// KubeVirt's default terminationGracePeriodSeconds for VMIs.
constexpr int kDefaultGracePeriodSeconds = 180;

json &child_object(json &parent, const char *key) {
  if (!parent.contains(key) || !parent[key].is_object()) parent[key] = json::object();
  return parent[key];
}

void default_devices(json &spec) {
  json &domain = child_object(spec, "domain");
  json &devices = child_object(domain, "devices");
  if (!devices.contains("autoattachSerialConsole")) devices["autoattachSerialConsole"] = true;

  // Disks: every disk gets a disk target with a bus; every volume without a disk gets one.
  if (!devices.contains("disks") || !devices["disks"].is_array()) devices["disks"] = json::array();
  json &disks = devices["disks"];
  std::set<std::string> disk_names;
  for (auto &disk : disks) {
    if (!disk.is_object()) continue;
    if (!disk.contains("disk") || !disk["disk"].is_object()) disk["disk"] = json::object();
    if (!disk["disk"].contains("bus")) disk["disk"]["bus"] = "virtio";
    if (disk.contains("name") && disk["name"].is_string()) disk_names.insert(disk["name"]);
  }
  if (spec.contains("volumes") && spec["volumes"].is_array()) {
    for (const auto &volume : spec["volumes"]) {
      if (!volume.is_object() || !volume.contains("name") || !volume["name"].is_string()) continue;
      if (disk_names.insert(volume["name"].get<std::string>()).second) {
        disks.push_back({{"name", volume["name"]}, {"disk", {{"bus", "virtio"}}}});
      }
    }
  }
  if (disks.empty()) devices.erase("disks");

  // Interfaces: KubeVirt attaches a pod network interface when none is declared.
  bool no_nics = !devices.contains("interfaces") ||
                 (devices["interfaces"].is_array() && devices["interfaces"].empty());
  bool no_networks =
      !spec.contains("networks") || (spec["networks"].is_array() && spec["networks"].empty());
  bool autoattach = devices.value("autoattachPodInterface", true);
  if (no_nics && no_networks && autoattach) {
    devices["interfaces"] = json::array({{{"name", "default"}, {"masquerade", json::object()}}});
    spec["networks"] = json::array({{{"name", "default"}, {"pod", json::object()}}});
  }
  if (devices.contains("interfaces") && devices["interfaces"].is_array()) {
    for (auto &nic : devices["interfaces"]) {
      if (!nic.is_object()) continue;
      if (!nic.contains("masquerade")) nic["masquerade"] = json::object();
      if (!nic.contains("model")) nic["model"] = "virtio";
    }
  }
}

void default_cpu_memory(json &spec) {
  const detail::CpuTopology topology = detail::cpu_topology(spec);
  json &domain = child_object(spec, "domain");
  json &cpu = child_object(domain, "cpu");
  cpu["sockets"] = topology.sockets;
  cpu["cores"] = topology.cores;
  cpu["threads"] = topology.threads;

  // Guest memory: from requests, else limits; requests.memory from the guest memory.
  const json *source = detail::find_path(domain, {"memory", "guest"});
  if (source == nullptr) source = detail::find_path(domain, {"resources", "requests", "memory"});
  if (source == nullptr) source = detail::find_path(domain, {"resources", "limits", "memory"});
  if (source == nullptr) return;
  json value = *source;
  json &memory = child_object(domain, "memory");
  if (!memory.contains("guest")) memory["guest"] = value;
  json &resources = child_object(domain, "resources");
  json &requests = child_object(resources, "requests");
  if (!requests.contains("memory")) {
    const json *limit = detail::find_path(resources, {"limits", "memory"});
    requests["memory"] = limit != nullptr ? *limit : memory["guest"];
  }
}

}  // namespace

json default_vmi_spec(const json &vmi_spec) {
  if (!vmi_spec.is_object()) return vmi_spec;
  json spec = vmi_spec;
  default_cpu_memory(spec);
  default_devices(spec);
  if (!spec.contains("terminationGracePeriodSeconds")) {
    spec["terminationGracePeriodSeconds"] = kDefaultGracePeriodSeconds;
  }
  return spec;
}

json apply_defaults(const json &object) {
  if (!object.is_object()) return object;
  json out = object;
  const std::string kind = out.value("kind", std::string());
  const bool namespaced = kind == "VirtualMachine" || kind == "VirtualMachineInstance" ||
                          kind == "VirtualMachineInstanceMigration" || kind == kRoleKind ||
                          kind == kRoleBindingKind;
  if (namespaced) {
    json &meta = child_object(out, "metadata");
    if (!meta.contains("namespace") || !meta["namespace"].is_string() ||
        meta["namespace"].get<std::string>().empty()) {
      meta["namespace"] = "default";
    }
  }
  if (kind == "VirtualMachine" && out.contains("spec") && out["spec"].is_object()) {
    json &spec = out["spec"];
    if (!spec.contains("runStrategy")) {
      bool running =
          spec.contains("running") && spec["running"].is_boolean() && spec["running"].get<bool>();
      spec["runStrategy"] = running ? "Always" : "Halted";
    }
    spec.erase("running");
    if (spec.contains("template") && spec["template"].is_object() &&
        spec["template"].contains("spec")) {
      spec["template"]["spec"] = default_vmi_spec(spec["template"]["spec"]);
    }
  } else if (kind == "VirtualMachineInstance" && out.contains("spec")) {
    out["spec"] = default_vmi_spec(out["spec"]);
  } else if (kind == "NodePool" && out.contains("spec") && out["spec"].is_object() &&
             out["spec"].contains("backend") && out["spec"]["backend"].is_object() &&
             !out["spec"]["backend"].contains("config")) {
    out["spec"]["backend"]["config"] = json::object();
  }
  return out;
}

}  // namespace hal::controller
