// validate_vmi_spec.cc - validation of a VirtualMachineInstance spec: scheduling fields,
// volumes, networks and the cross references between disks and volumes, interfaces and
// networks, and between TDX and live migration.
#include <map>
#include <set>

#include "controller/api/validators.h"
#include "controller/api/vmi_model.h"

namespace hal::controller::detail {
namespace {

using nlohmann::json;

const char *const kLocalImages =
    "images come from the controller's local image catalogue; nothing is pulled, so pull "
    "settings do not apply";

// Names of the items of spec[key] (a list of objects with "name"); ignores malformed items.
std::vector<std::string> names_of(const json *list) {
  std::vector<std::string> out;
  if (list == nullptr || !list->is_array()) return out;
  for (const auto &item : *list) {
    if (item.is_object() && item.contains("name") && item["name"].is_string()) {
      out.push_back(item["name"].get<std::string>());
    }
  }
  return out;
}

void check_host_disk(const json &disk, const std::string &path, Errors &errors) {
  if (!check_fields(disk, path, {"path", "type", "capacity", "shared"}, {}, errors)) return;
  auto p = get_string(disk, "path", path, errors);
  if (!disk.contains("path")) {
    errors.add(join(path, "path"), "is required (an absolute path of a disk image on the node)");
  } else if (p && (p->empty() || p->front() != '/' || p->find("/../") != std::string::npos ||
                   p->ends_with("/..") || p->size() > 4096)) {
    errors.add(join(path, "path"), "must be an absolute path without '..'");
  }
  auto type = get_string(disk, "type", path, errors);
  if (!disk.contains("type")) {
    errors.add(join(path, "type"), "is required: Disk or DiskOrCreate");
  } else if (type && *type != "Disk" && *type != "DiskOrCreate") {
    errors.add(join(path, "type"), "must be Disk or DiskOrCreate, not \"" + *type + "\"");
  }
  auto capacity = get_bytes(disk, "capacity", path, errors);
  if (type && *type == "DiskOrCreate" && !disk.contains("capacity")) {
    errors.add(join(path, "capacity"), "is required when type is DiskOrCreate");
  }
  if (capacity && *capacity == 0) errors.add(join(path, "capacity"), "must be positive");
  get_bool(disk, "shared", path, errors);
}

void check_container_disk(const json &disk, const std::string &path, Errors &errors) {
  if (!check_fields(disk, path, {"image", "path"},
                    {{"imagePullSecret", kLocalImages}, {"imagePullPolicy", kLocalImages}},
                    errors)) {
    return;
  }
  auto image = get_string(disk, "image", path, errors);
  if (!disk.contains("image") || (image && image->empty())) {
    errors.add(join(path, "image"), "is required (an image of the controller's catalogue)");
  }
  if (auto p = get_string(disk, "path", path, errors)) {
    if (p->empty() || p->front() != '/' || p->find("..") != std::string::npos) {
      errors.add(join(path, "path"), "must be an absolute path inside the image without '..'");
    }
  }
}

void check_volumes(const json &spec, const std::string &path, Errors &errors) {
  auto it = spec.find("volumes");
  if (it == spec.end()) return;
  const std::string p = join(path, "volumes");
  if (!it->is_array()) {
    errors.add(p, std::string("must be a list, not ") + it->type_name());
    return;
  }
  if (it->size() > 64) errors.add(p, "at most 64 volumes");
  const char *no_storage =
      "HAL has no Kubernetes storage (no CDI, PVCs or CSI): use hostDisk (an image path on the "
      "node) or containerDisk (an image of the controller's catalogue)";
  std::set<std::string> names;
  for (size_t i = 0; i < it->size() && i < 256; ++i) {
    const json &volume = (*it)[i];
    const std::string vp = index(p, i);
    size_t before = errors.size();
    if (!check_fields(
            volume, vp, {"name", "hostDisk", "containerDisk"},
            {{"dataVolume", std::string("DataVolumes are imported by CDI, which HAL does not "
                                        "have; ") +
                                no_storage},
             {"persistentVolumeClaim",
              std::string("PersistentVolumeClaims are not available; ") + no_storage},
             {"ephemeral", std::string("ephemeral PVC overlays are not available; ") + no_storage},
             {"emptyDisk",
              "scratch disks are not provisioned by HAL; use hostDisk with type "
              "DiskOrCreate and a capacity"},
             {"cloudInitNoCloud",
              "cloud-init NoCloud is not supported: HAL does not generate the cidata seed image "
              "it needs (and has no CD-ROM devices); bake the configuration into the image or "
              "pass it on the kernel command line with firmware.kernelBoot.kernelArgs"},
             {"cloudInitConfigDrive",
              "cloud-init ConfigDrive is not supported: HAL does not generate config-drive "
              "images; bake the configuration into the image"},
             {"sysprep", "Sysprep volumes are not supported by HAL"},
             {"configMap", "HAL has no ConfigMaps (no Kubernetes API objects besides its own)"},
             {"secret", "HAL has no Secrets (no Kubernetes API objects besides its own)"},
             {"downwardAPI", "the downward API is not available in HAL"},
             {"serviceAccount", "HAL has no service accounts"},
             {"downwardMetrics", "downward metrics are not supported by HAL"},
             {"memoryDump", "memory dump volumes are not supported by HAL"}},
            errors)) {
      continue;
    }
    auto name = get_string(volume, "name", vp, errors);
    if (!volume.contains("name")) {
      errors.add(join(vp, "name"), "is required");
    } else if (name && !is_dns_label(*name)) {
      errors.add(join(vp, "name"), "must be a DNS-1123 label (lower-case letters, digits, '-')");
    } else if (name && !names.insert(*name).second) {
      errors.add(join(vp, "name"), "duplicate volume name \"" + *name + "\"");
    }
    int sources =
        (volume.contains("hostDisk") ? 1 : 0) + (volume.contains("containerDisk") ? 1 : 0);
    if (sources > 1) {
      errors.add(vp, "hostDisk and containerDisk are mutually exclusive: one source per volume");
    } else if (sources == 0 && errors.size() == before) {
      errors.add(vp, "needs a volume source: hostDisk or containerDisk");
    }
    if (volume.contains("hostDisk"))
      check_host_disk(volume["hostDisk"], join(vp, "hostDisk"), errors);
    if (volume.contains("containerDisk")) {
      check_container_disk(volume["containerDisk"], join(vp, "containerDisk"), errors);
    }
  }
}

void check_networks(const json &spec, const std::string &path, Errors &errors) {
  auto it = spec.find("networks");
  if (it == spec.end()) return;
  const std::string p = join(path, "networks");
  if (!it->is_array()) {
    errors.add(p, std::string("must be a list, not ") + it->type_name());
    return;
  }
  if (it->size() > 32) errors.add(p, "at most 32 networks");
  std::set<std::string> names;
  int pods = 0;
  for (size_t i = 0; i < it->size() && i < 256; ++i) {
    const json &net = (*it)[i];
    const std::string np = index(p, i);
    size_t before = errors.size();
    if (!check_fields(net, np, {"name", "pod"},
                      {{"multus",
                        "Multus secondary networks are not supported: HAL gives a VM "
                        "one user-mode network (pod)"}},
                      errors)) {
      continue;
    }
    auto name = get_string(net, "name", np, errors);
    if (!net.contains("name")) {
      errors.add(join(np, "name"), "is required");
    } else if (name && !is_dns_label(*name)) {
      errors.add(join(np, "name"), "must be a DNS-1123 label (lower-case letters, digits, '-')");
    } else if (name && !names.insert(*name).second) {
      errors.add(join(np, "name"), "duplicate network name \"" + *name + "\"");
    }
    if (net.contains("pod")) {
      ++pods;
      check_fields(net["pod"], join(np, "pod"), {},
                   {{"vmNetworkCIDR", "the user-mode network's addresses are fixed in HAL"},
                    {"vmIPv6NetworkCIDR", "the user-mode network's addresses are fixed in HAL"}},
                   errors);
      if (pods > 1) errors.add(join(np, "pod"), "only one pod network is allowed");
    } else if (errors.size() == before) {
      errors.add(np, "needs a network source: pod");
    }
  }
}

// disks <-> volumes, interfaces <-> networks.
void check_references(const json &spec, const std::string &path, Errors &errors) {
  const json *disks = find_path(spec, {"domain", "devices", "disks"});
  auto volumes = names_of(find_path(spec, {"volumes"}));
  if (disks != nullptr && disks->is_array()) {
    for (size_t i = 0; i < disks->size(); ++i) {
      const json &d = (*disks)[i];
      if (!d.is_object() || !d.contains("name") || !d["name"].is_string()) continue;
      auto name = d["name"].get<std::string>();
      if (std::find(volumes.begin(), volumes.end(), name) == volumes.end()) {
        errors.add(index(join(path, "domain.devices.disks"), i) + ".name",
                   "no volume named \"" + name + "\" in " + join(path, "volumes"));
      }
    }
  }
  const json *nics = find_path(spec, {"domain", "devices", "interfaces"});
  auto networks = names_of(find_path(spec, {"networks"}));
  auto nic_names = names_of(nics);
  if (nics != nullptr && nics->is_array()) {
    for (size_t i = 0; i < nics->size(); ++i) {
      const json &n = (*nics)[i];
      if (!n.is_object() || !n.contains("name") || !n["name"].is_string()) continue;
      auto name = n["name"].get<std::string>();
      if (std::find(networks.begin(), networks.end(), name) == networks.end()) {
        errors.add(index(join(path, "domain.devices.interfaces"), i) + ".name",
                   "no network named \"" + name + "\" in " + join(path, "networks"));
      }
    }
  }
  const json *nets = find_path(spec, {"networks"});
  if (nets != nullptr && nets->is_array()) {
    for (size_t i = 0; i < nets->size(); ++i) {
      const json &n = (*nets)[i];
      if (!n.is_object() || !n.contains("name") || !n["name"].is_string()) continue;
      auto name = n["name"].get<std::string>();
      if (std::find(nic_names.begin(), nic_names.end(), name) == nic_names.end()) {
        errors.add(index(join(path, "networks"), i) + ".name",
                   "network \"" + name + "\" has no interface in " +
                       join(path, "domain.devices.interfaces"));
      }
    }
  }
}

}  // namespace

void validate_vmi_spec(const json &spec, std::string_view path_view, Errors &errors) {
  const std::string path(path_view);
  if (!check_fields(
          spec, path,
          {"domain", "nodeSelector", "evictionStrategy", "terminationGracePeriodSeconds", "volumes",
           "networks", "architecture"},
          {{"affinity", "node affinity is not supported by HAL; use nodeSelector"},
           {"tolerations", "HAL nodes have no taints, so tolerations do not apply"},
           {"topologySpreadConstraints", "not supported by HAL's scheduler; use nodeSelector"},
           {"schedulerName", "HAL has one scheduler"},
           {"priorityClassName", "priority classes are not supported by HAL"},
           {"hostname", "the guest hostname is not configurable in HAL"},
           {"subdomain", "the guest hostname is not configurable in HAL"},
           {"livenessProbe", "probes are not supported by HAL (no guest agent)"},
           {"readinessProbe", "probes are not supported by HAL (no guest agent)"},
           {"accessCredentials", "access credential injection is not supported by HAL"},
           {"dnsPolicy", "DNS settings are not configurable in HAL's user-mode network"},
           {"dnsConfig", "DNS settings are not configurable in HAL's user-mode network"},
           {"startStrategy", "start strategies are not supported by HAL"},
           {"resourceClaims", "dynamic resource allocation is not supported by HAL"}},
          errors)) {
    return;
  }
  if (!spec.contains("domain")) {
    errors.add(join(path, "domain"), "is required");
  } else {
    validate_domain(spec["domain"], join(path, "domain"), errors);
  }
  check_string_map(spec, "nodeSelector", path, true, errors);
  auto eviction = get_string(spec, "evictionStrategy", path, errors);
  if (eviction && *eviction != "None" && *eviction != "LiveMigrate" &&
      *eviction != "LiveMigrateIfPossible" && *eviction != "External") {
    errors.add(
        join(path, "evictionStrategy"),
        "must be None, LiveMigrate, LiveMigrateIfPossible or External, not \"" + *eviction + "\"");
  }
  if (eviction && *eviction == "LiveMigrate" &&
      find_path(spec, {"domain", "launchSecurity", "tdx"}) != nullptr) {
    errors.add(join(path, "evictionStrategy"),
               "TDX guests cannot be live-migrated; use None, External or LiveMigrateIfPossible");
  }
  get_int(spec, "terminationGracePeriodSeconds", path, 0, 86400, errors);
  if (auto arch = get_string(spec, "architecture", path, errors); arch && *arch != "amd64") {
    errors.add(join(path, "architecture"), "HAL nodes run amd64 guests only");
  }
  check_volumes(spec, path, errors);
  check_networks(spec, path, errors);
  check_references(spec, path, errors);
}

}  // namespace hal::controller::detail
