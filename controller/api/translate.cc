// translate.cc - to_hal_spec: a (KubeVirt) VirtualMachineInstance spec to the HAL VM spec
// (include/hal/schema/vm-spec.schema.json): topology, memory, pinning and guest NUMA from the
// placement, disks from hostDisk/containerDisk volumes, user-mode NICs, kernel/firmware boot,
// console and TDX. The result is checked with the core spec validator before it is returned.
#include <filesystem>
#include <fstream>
#include <map>

#include "controller/api/kubevirt_api.h"
#include "controller/api/vmi_model.h"
#include "core/spec/quantity.h"
#include "core/spec/vm_spec_validation.h"
#include "hal/host.hpp"

namespace hal::controller {

using nlohmann::json;

namespace {

namespace fs = std::filesystem;

[[noreturn]] void invalid(const std::string &path, const std::string &message) {
  throw Error(HAL_INVALID_ARGUMENT, path + ": " + message);
}

// Joins an image directory and an absolute path inside it.
std::string inside(const std::string &dir, const std::string &path) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return path.empty() || path.front() == '/' ? d + path : d + "/" + path;
}

std::string resolve(const TranslationContext &context, const std::string &image,
                    const std::string &path) {
  if (!context.resolve_image) {
    invalid(path, "image \"" + image + "\" cannot be resolved: no image catalogue is configured");
  }
  auto resolved = context.resolve_image(image);
  if (!resolved || resolved->empty()) {
    invalid(path, "unknown image \"" + image +
                      "\": not in the controller's image catalogue (hal-controller --image "
                      "NAME=DIR adds one)");
  }
  return *resolved;
}

// "qcow2" when the file starts with the qcow2 magic, else "raw".
std::string disk_format(const std::string &file) {
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  if (in.read(magic, 4) && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' &&
      static_cast<unsigned char>(magic[3]) == 0xfb) {
    return "qcow2";
  }
  return "raw";
}

// The disk image file of a containerDisk: the resolved file itself, DIR + path, or the single
// file under DIR/disk/ (KubeVirt's containerDisk layout).
std::string container_disk_file(const TranslationContext &context, const json &source,
                                const std::string &path) {
  const std::string image = source.value("image", std::string());
  const std::string where = resolve(context, image, path + ".image");
  std::error_code ec;
  if (source.contains("path")) {
    if (fs::is_regular_file(where, ec)) {
      invalid(path + ".path", "image \"" + image + "\" resolves to a file, not a directory");
    }
    return inside(where, source["path"].get<std::string>());
  }
  if (!fs::is_directory(where, ec)) return where;
  std::vector<std::string> files;
  for (const auto &entry : fs::directory_iterator(fs::path(where) / "disk", ec)) {
    if (entry.is_regular_file(ec)) files.push_back(entry.path().string());
  }
  if (files.size() != 1) {
    invalid(path + ".path", "image \"" + image + "\" (" + where + ") has " +
                                std::to_string(files.size()) +
                                " files under disk/; name the disk image with path");
  }
  return files.front();
}

const json *volume_named(const json &spec, const std::string &name) {
  if (!spec.contains("volumes") || !spec["volumes"].is_array()) return nullptr;
  for (const auto &v : spec["volumes"]) {
    if (v.is_object() && v.value("name", std::string()) == name) return &v;
  }
  return nullptr;
}

void translate_disks(const json &spec, const TranslationContext &context, json &out) {
  const json *disks = detail::find_path(spec, {"domain", "devices", "disks"});
  if (disks == nullptr || !disks->is_array() || disks->empty()) return;
  json list = json::array();
  for (size_t i = 0; i < disks->size(); ++i) {
    const json &disk = (*disks)[i];
    const std::string name = disk.value("name", std::string());
    const std::string disk_path = "spec.domain.devices.disks[" + std::to_string(i) + "]";
    const json *volume = volume_named(spec, name);
    if (volume == nullptr) invalid(disk_path + ".name", "no volume named \"" + name + "\"");
    std::string file;
    if (volume->contains("hostDisk")) {
      file = (*volume)["hostDisk"].value("path", std::string());
    } else if (volume->contains("containerDisk")) {
      file = container_disk_file(context, (*volume)["containerDisk"],
                                 "spec.volumes[" + name + "].containerDisk");
    } else {
      invalid("spec.volumes[" + name + "]", "needs a hostDisk or containerDisk source");
    }
    const json target = disk.value("disk", json::object());
    json d = {{"name", name},
              {"path", file},
              {"format", disk_format(file)},
              {"bus", target.value("bus", std::string("virtio"))}};
    if (target.value("readonly", false)) d["readOnly"] = true;
    list.push_back(std::move(d));
  }
  out["disks"] = std::move(list);
}

void translate_nics(const json &spec, json &out) {
  const json *nics = detail::find_path(spec, {"domain", "devices", "interfaces"});
  if (nics == nullptr || !nics->is_array() || nics->empty()) return;
  json list = json::array();
  for (const auto &nic : *nics) {
    json n = {{"name", nic.value("name", std::string())},
              {"type", "user"},
              {"model", nic.value("model", std::string("virtio"))}};
    if (nic.contains("macAddress")) n["mac"] = nic["macAddress"];
    list.push_back(std::move(n));
  }
  out["nics"] = std::move(list);
}

void translate_boot(const json &spec, const TranslationContext &context, json &out) {
  const json *firmware = detail::find_path(spec, {"domain", "firmware"});
  if (firmware == nullptr) return;
  if (const json *kb = detail::find_path(*firmware, {"kernelBoot"})) {
    const json container = kb->value("container", json::object());
    const std::string image = container.value("image", std::string());
    const std::string path = "spec.domain.firmware.kernelBoot.container";
    const std::string dir = resolve(context, image, path + ".image");
    std::error_code ec;
    if (fs::is_regular_file(dir, ec)) {
      invalid(path + ".image", "image \"" + image +
                                   "\" resolves to a file; kernel boot needs a "
                                   "directory holding the kernel and initrd");
    }
    json boot = {{"kernel", inside(dir, container.value("kernelPath", std::string()))}};
    if (container.contains("initrdPath")) {
      boot["initrd"] = inside(dir, container["initrdPath"].get<std::string>());
    }
    if (kb->contains("kernelArgs")) boot["cmdline"] = (*kb)["kernelArgs"];
    out["boot"] = std::move(boot);
    return;
  }
  if (const json *bl = detail::find_path(*firmware, {"bootloader"})) {
    out["boot"] = {{"firmware", {{"type", bl->contains("efi") ? "uefi" : "bios"}}}};
  }
}

void translate_cpu(const json &spec, const CpuPlacement &placement, json &out) {
  const detail::CpuTopology t = detail::cpu_topology(spec);
  const uint64_t vcpus = t.vcpus();
  json cpu = {{"vcpus", vcpus},
              {"topology", {{"sockets", t.sockets}, {"cores", t.cores}, {"threads", t.threads}}}};
  const json *model = detail::find_path(spec, {"domain", "cpu", "model"});
  if (model != nullptr && model->is_string()) {
    if (*model == "host-passthrough") {
      cpu["model"] = "host";
    } else if (*model != "host-model") {  // host-model: the backend's default model
      cpu["model"] = *model;
    }
  }
  const json *dedicated = detail::find_path(spec, {"domain", "cpu", "dedicatedCpuPlacement"});
  if (dedicated != nullptr && dedicated->is_boolean() && dedicated->get<bool>()) {
    if (placement.host_cpus.size() != vcpus) {
      throw Error(HAL_FAILED_PRECONDITION,
                  "spec.domain.cpu.dedicatedCpuPlacement: needs one host CPU per vCPU (" +
                      std::to_string(vcpus) + ") from the placement (CpuPlacement), got " +
                      std::to_string(placement.host_cpus.size()));
    }
    json pinning = json::array();
    for (size_t v = 0; v < vcpus; ++v) {
      pinning.push_back({{"vcpu", v}, {"hostCpus", {placement.host_cpus[v]}}});
    }
    cpu["pinning"] = std::move(pinning);
  }
  out["cpu"] = std::move(cpu);
}

// Guest NUMA passthrough: one guest node per host node of the pinned vCPUs, memory split in
// proportion to the vCPUs (in hugepage units), each bound to its host node.
void translate_numa(const json &spec, const CpuPlacement &placement, uint64_t memory, json &out) {
  if (detail::find_path(spec, {"domain", "cpu", "numa", "guestMappingPassthrough"}) == nullptr) {
    return;
  }
  const uint64_t vcpus = detail::cpu_topology(spec).vcpus();
  if (placement.host_numa_nodes.size() != vcpus) {
    throw Error(HAL_FAILED_PRECONDITION,
                "spec.domain.cpu.numa.guestMappingPassthrough: needs the host NUMA node of each "
                "of the " +
                    std::to_string(vcpus) +
                    " dedicated CPUs from the placement (CpuPlacement), got " +
                    std::to_string(placement.host_numa_nodes.size()));
  }
  std::map<uint32_t, std::vector<uint64_t>> by_host;
  for (size_t v = 0; v < vcpus; ++v) by_host[placement.host_numa_nodes[v]].push_back(v);
  const uint64_t page = std::max<uint64_t>(detail::hugepage_size(spec), 1);
  const uint64_t pages = memory / page;
  json nodes = json::array();
  uint64_t given = 0;
  uint32_t id = 0;
  for (const auto &[host, list] : by_host) {
    uint64_t share = (id + 1 == by_host.size()) ? pages - given : pages * list.size() / vcpus;
    if (share == 0) {
      invalid("spec.domain.memory.guest", "too small to give each of the " +
                                              std::to_string(by_host.size()) +
                                              " guest NUMA nodes at least one hugepage");
    }
    given += share;
    nodes.push_back({{"id", id++},
                     {"vcpus", list},
                     {"memory", format_quantity(share * page)},
                     {"hostNodes", {host}},
                     {"policy", "bind"}});
  }
  out["numa"] = {{"nodes", std::move(nodes)}};
}

}  // namespace

json to_hal_spec(const json &vmi_spec, const TranslationContext &context) {
  return to_hal_spec(vmi_spec, context, CpuPlacement{});
}

json to_hal_spec(const json &vmi_spec, const TranslationContext &context,
                 const CpuPlacement &placement) {
  if (!vmi_spec.is_object()) invalid("spec", "must be an object");
  const json spec = default_vmi_spec(vmi_spec);
  if (context.vm_id.empty()) invalid("name", "the HAL VM id is empty");
  json out = {{"apiVersion", "hal.dev/v1"}, {"name", context.vm_id}};
  const json *machine = detail::find_path(spec, {"domain", "machine", "type"});
  if (machine != nullptr && machine->is_string()) out["machine"] = *machine;
  translate_cpu(spec, placement, out);
  auto memory = detail::guest_memory(spec);
  if (!memory) invalid("spec.domain.memory.guest", "no guest memory given");
  json mem = {{"size", format_quantity(*memory)}};
  const json *page = detail::find_path(spec, {"domain", "memory", "hugepages", "pageSize"});
  if (page != nullptr && page->is_string()) mem["hugepages"] = *page;
  out["memory"] = std::move(mem);
  translate_numa(spec, placement, *memory, out);
  translate_disks(spec, context, out);
  translate_nics(spec, out);
  translate_boot(spec, context, out);
  const json *serial = detail::find_path(spec, {"domain", "devices", "autoattachSerialConsole"});
  out["console"] = {{"serial", serial == nullptr || !serial->is_boolean() || serial->get<bool>()}};
  if (detail::find_path(spec, {"domain", "launchSecurity", "tdx"}) != nullptr) {
    out["launchSecurity"] = {{"type", "tdx"}};
  }
  auto errors = validate_vm_spec(out);
  if (!errors.empty()) {
    throw Error(HAL_INVALID_ARGUMENT,
                "the translated HAL spec is invalid: " + hal::format_errors(errors));
  }
  return out;
}

}  // namespace hal::controller
