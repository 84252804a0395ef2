// validate_domain.cc - validation of a VMI's spec.domain: cpu, memory, resources, firmware,
// launchSecurity and devices (disks, interfaces). Every field HAL cannot honour is rejected by
// its path with the reason.
#include <cctype>
#include <regex>
#include <set>

#include "controller/api/validators.h"
#include "controller/api/vmi_model.h"
#include "core/spec/quantity.h"

namespace hal::controller::detail {
namespace {

using nlohmann::json;

const char *const kNotSupported = "not supported by HAL";
const char *const kLocalImages =
    "images come from the controller's local image catalogue; nothing is pulled, so pull "
    "settings do not apply";

bool absolute_clean_path(const std::string &p) {
  return !p.empty() && p.front() == '/' && p.find("/../") == std::string::npos &&
         !p.ends_with("/..") && p.find('\0') == std::string::npos && p.size() <= 4096;
}

void check_cpu(const json &domain, const std::string &path, Errors &errors) {
  auto it = domain.find("cpu");
  if (it == domain.end()) return;
  const json &cpu = *it;
  const std::string p = join(path, "cpu");
  if (!check_fields(cpu, p,
                    {"sockets", "cores", "threads", "model", "dedicatedCpuPlacement", "numa"},
                    {{"isolateEmulatorThread",
                      "not supported: HAL backends do not place the emulator thread on a "
                      "dedicated pCPU of its own"},
                     {"features", "CPU feature flags are not supported by HAL; choose a model"},
                     {"maxSockets", "CPU hotplug is not supported by HAL"},
                     {"realtime", "realtime vCPU tuning is not supported by HAL"}},
                    errors)) {
    return;
  }
  auto sockets = get_int(cpu, "sockets", p, 1, 4096, errors);
  auto cores = get_int(cpu, "cores", p, 1, 4096, errors);
  auto threads = get_int(cpu, "threads", p, 1, 4096, errors);
  if (sockets.value_or(1) * cores.value_or(1) * threads.value_or(1) > 4096) {
    errors.add(p, "sockets*cores*threads must be at most 4096 vCPUs");
  }
  if (auto model = get_string(cpu, "model", p, errors)) {
    bool ok = !model->empty() && model->size() <= 64 &&
              std::isalnum(static_cast<unsigned char>(model->front())) != 0;
    for (char c : *model) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '+' ||
            c == '-')) {
        ok = false;
      }
    }
    if (!ok) {
      errors.add(join(p, "model"), "must be host-passthrough, host-model or a CPU model name");
    }
  }
  const auto dedicated = get_bool(cpu, "dedicatedCpuPlacement", p, errors);
  if (auto numa = cpu.find("numa"); numa != cpu.end()) {
    const std::string np = join(p, "numa");
    if (check_fields(*numa, np, {"guestMappingPassthrough"}, {}, errors) &&
        numa->contains("guestMappingPassthrough")) {
      const std::string gp = join(np, "guestMappingPassthrough");
      check_fields((*numa)["guestMappingPassthrough"], gp, {}, {}, errors);
      std::string missing;
      if (!dedicated.value_or(false)) {
        missing = join(p, "dedicatedCpuPlacement") + ": true";
      }
      const json *page = find_path(domain, {"memory", "hugepages", "pageSize"});
      if (page == nullptr) {
        if (!missing.empty()) missing += " and ";
        missing += join(path, "memory.hugepages.pageSize");
      }
      if (!missing.empty()) {
        errors.add(gp,
                   "guest NUMA passthrough needs dedicated CPUs backed by hugepages, as in "
                   "KubeVirt; missing " +
                       missing);
      }
    }
  }
}

void check_memory(const json &domain, const std::string &path, Errors &errors) {
  auto it = domain.find("memory");
  if (it == domain.end()) return;
  const std::string p = join(path, "memory");
  if (!check_fields(*it, p, {"guest", "hugepages"},
                    {{"maxGuest", "memory hotplug is not supported by HAL"}}, errors)) {
    return;
  }
  get_bytes(*it, "guest", p, errors);
  if (auto hp = it->find("hugepages"); hp != it->end()) {
    const std::string hpp = join(p, "hugepages");
    if (check_fields(*hp, hpp, {"pageSize"}, {}, errors)) {
      auto size = get_string(*hp, "pageSize", hpp, errors);
      if (!hp->contains("pageSize")) {
        errors.add(join(hpp, "pageSize"), "is required (2Mi or 1Gi)");
      } else if (size && *size != "2Mi" && *size != "1Gi") {
        errors.add(join(hpp, "pageSize"), "must be 2Mi or 1Gi, not \"" + *size + "\"");
      }
    }
  }
}

// requests/limits: returns {memory bytes, millicpu} for cross checks.
std::pair<std::optional<uint64_t>, std::optional<uint64_t>> check_resource_list(
    const json &resources, const char *key, const std::string &path, Errors &errors) {
  auto it = resources.find(key);
  if (it == resources.end()) return {};
  const std::string p = join(path, key);
  if (!it->is_object()) {
    errors.add(p, std::string("must be an object, not ") + it->type_name());
    return {};
  }
  for (const auto &[name, value] : it->items()) {
    if (name != "cpu" && name != "memory") {
      errors.add(join(p, name), "unsupported resource: HAL schedules cpu and memory only");
    }
  }
  return {get_bytes(*it, "memory", p, errors), get_millicpu(*it, "cpu", p, errors)};
}

void check_resources(const json &domain, const std::string &path, Errors &errors) {
  const std::string p = join(path, "resources");
  std::pair<std::optional<uint64_t>, std::optional<uint64_t>> requests, limits;
  if (auto it = domain.find("resources"); it != domain.end()) {
    if (check_fields(
            *it, p, {"requests", "limits"},
            {{"overcommitGuestOverhead", "not supported: HAL does not account a per-VM overhead"}},
            errors)) {
      requests = check_resource_list(*it, "requests", p, errors);
      limits = check_resource_list(*it, "limits", p, errors);
    }
  }
  if (requests.first && limits.first && *requests.first > *limits.first) {
    errors.add(join(p, "requests.memory"), "must not exceed resources.limits.memory");
  }
  if (requests.second && limits.second && *requests.second > *limits.second) {
    errors.add(join(p, "requests.cpu"), "must not exceed resources.limits.cpu");
  }
  const json *guest_json = find_path(domain, {"memory", "guest"});
  std::optional<uint64_t> guest = guest_json != nullptr ? bytes_of(*guest_json) : std::nullopt;
  if (guest && limits.first && *guest > *limits.first) {
    errors.add(join(path, "memory.guest"),
               "must not exceed resources.limits.memory (" + format_quantity(*limits.first) + ")");
  }
  std::optional<uint64_t> memory = guest ? guest : requests.first ? requests.first : limits.first;
  if (guest_json == nullptr && !requests.first && !limits.first) {
    // A malformed value was already reported; only report when nothing was given at all.
    if (find_path(domain, {"resources", "requests", "memory"}) == nullptr &&
        find_path(domain, {"resources", "limits", "memory"}) == nullptr) {
      errors.add(join(path, "memory.guest"),
                 "no guest memory: set domain.memory.guest or domain.resources.requests.memory");
    }
  } else if (memory && *memory < (1ull << 20)) {
    errors.add(guest ? join(path, "memory.guest")
                     : join(p, requests.first ? "requests.memory" : "limits.memory"),
               "guest memory must be at least 1Mi");
  }
  json spec = {{"domain", domain}};
  if (memory) {
    if (uint64_t page = hugepage_size(spec); page != 0 && *memory % page != 0) {
      errors.add(guest ? join(path, "memory.guest") : join(p, "requests.memory"),
                 "must be a multiple of the hugepage size " + format_quantity(page));
    }
  }
  // Dedicated CPUs: a CPU request/limit, when given, must be the whole vCPU count.
  const json *dedicated = find_path(domain, {"cpu", "dedicatedCpuPlacement"});
  if (dedicated != nullptr && dedicated->is_boolean() && dedicated->get<bool>()) {
    uint64_t vcpus = cpu_topology(spec).vcpus();
    for (auto [name, value] :
         {std::pair{"requests.cpu", requests.second}, std::pair{"limits.cpu", limits.second}}) {
      if (value && *value != vcpus * 1000) {
        errors.add(join(p, name), "with dedicatedCpuPlacement the CPU " +
                                      std::string(name).substr(0, std::string(name).find('.')) +
                                      " must equal the vCPU count (" + std::to_string(vcpus) + ")");
      }
    }
  }
}

// machine.type: a machine type name for the backend (kvm-qemu: q35 or pc-q35-*); the backend
// refuses one it does not have when the VM is created.
void check_machine(const json &domain, const std::string &path, Errors &errors) {
  auto it = domain.find("machine");
  if (it == domain.end()) return;
  const std::string p = join(path, "machine");
  if (!check_fields(*it, p, {"type"}, {}, errors)) return;
  auto type = get_string(*it, "type", p, errors);
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  if (type && !std::regex_match(*type, kName))
    errors.add(join(p, "type"), "must be a machine type name such as q35 or pc-q35-7.2");
}

void check_firmware(const json &domain, const std::string &path, Errors &errors) {
  auto it = domain.find("firmware");
  if (it == domain.end()) return;
  const std::string p = join(path, "firmware");
  if (!check_fields(*it, p, {"bootloader", "kernelBoot"},
                    {{"uuid", "the firmware UUID is not configurable in HAL"},
                     {"serial", "the SMBIOS serial number is not configurable in HAL"},
                     {"acpi", "ACPI tables (SLIC/MSDM) are not supported by HAL"}},
                    errors)) {
    return;
  }
  if (it->contains("bootloader") && it->contains("kernelBoot")) {
    errors.add(p,
               "bootloader and kernelBoot are mutually exclusive in HAL (a direct kernel boot "
               "uses no firmware image)");
  }
  if (auto bl = it->find("bootloader"); bl != it->end()) {
    const std::string bp = join(p, "bootloader");
    if (check_fields(*bl, bp, {"bios", "efi"}, {}, errors)) {
      if (bl->contains("bios") && bl->contains("efi")) {
        errors.add(bp, "bios and efi are mutually exclusive");
      }
      if (bl->contains("bios")) {
        check_fields((*bl)["bios"], join(bp, "bios"), {},
                     {{"useSerial", "not supported: HAL's BIOS output is not configurable"}},
                     errors);
      }
      if (auto efi = bl->find("efi"); efi != bl->end()) {
        const std::string ep = join(bp, "efi");
        if (check_fields(*efi, ep, {"secureBoot"},
                         {{"persistent", "persistent EFI NVRAM is not supported by HAL"}},
                         errors)) {
          auto secure = get_bool(*efi, "secureBoot", ep, errors);
          if (!efi->contains("secureBoot")) {
            errors.add(join(ep, "secureBoot"),
                       "KubeVirt defaults secureBoot to true, which HAL cannot honour (no "
                       "Secure Boot firmware or SMM); set secureBoot: false");
          } else if (secure && *secure) {
            errors.add(join(ep, "secureBoot"),
                       "Secure Boot is not supported by HAL; set secureBoot: false");
          }
        }
      }
    }
  }
  if (auto kb = it->find("kernelBoot"); kb != it->end()) {
    const std::string kp = join(p, "kernelBoot");
    if (!check_fields(*kb, kp, {"kernelArgs", "container"}, {}, errors)) return;
    if (auto args = get_string(*kb, "kernelArgs", kp, errors); args && args->size() > 4096) {
      errors.add(join(kp, "kernelArgs"), "must be at most 4096 characters");
    }
    auto c = kb->find("container");
    if (c == kb->end()) {
      errors.add(join(kp, "container"),
                 "is required: it names the image that holds the kernel and initrd");
      return;
    }
    const std::string cp = join(kp, "container");
    if (!check_fields(*c, cp, {"image", "kernelPath", "initrdPath"},
                      {{"imagePullSecret", kLocalImages}, {"imagePullPolicy", kLocalImages}},
                      errors)) {
      return;
    }
    auto image = get_string(*c, "image", cp, errors);
    if (!c->contains("image") || (image && image->empty())) {
      errors.add(join(cp, "image"), "is required (an image of the controller's catalogue)");
    }
    auto kernel = get_string(*c, "kernelPath", cp, errors);
    auto initrd = get_string(*c, "initrdPath", cp, errors);
    if (!c->contains("kernelPath")) {
      errors.add(join(cp, "kernelPath"),
                 "is required: HAL boots the kernel directly (an initrd alone cannot boot)");
    }
    for (auto [name, value] : {std::pair{"kernelPath", kernel}, std::pair{"initrdPath", initrd}}) {
      if (value && !absolute_clean_path(*value)) {
        errors.add(join(cp, name), "must be an absolute path inside the image without '..'");
      }
    }
  }
}

void check_launch_security(const json &domain, const std::string &path, Errors &errors) {
  auto it = domain.find("launchSecurity");
  if (it == domain.end()) return;
  const std::string p = join(path, "launchSecurity");
  if (!check_fields(*it, p, {"tdx"},
                    {{"sev", "AMD SEV is not supported by HAL backends; only Intel TDX (tdx)"},
                     {"snp", "AMD SEV-SNP is not supported by HAL backends; only Intel TDX (tdx)"}},
                    errors)) {
    return;
  }
  if (it->contains("tdx")) check_fields((*it)["tdx"], join(p, "tdx"), {}, {}, errors);
  if (it->empty()) errors.add(p, "must name a technology: tdx");
}

void check_disks(const json &devices, const std::string &path, Errors &errors) {
  auto it = devices.find("disks");
  if (it == devices.end()) return;
  const std::string p = join(path, "disks");
  if (!it->is_array()) {
    errors.add(p, std::string("must be a list, not ") + it->type_name());
    return;
  }
  if (it->size() > 64) errors.add(p, "at most 64 disks");
  std::set<std::string> names;
  for (size_t i = 0; i < it->size() && i < 256; ++i) {
    const json &disk = (*it)[i];
    const std::string dp = index(p, i);
    if (!check_fields(
            disk, dp, {"name", "disk"},
            {{"cdrom", "CD-ROM devices are not supported by HAL; attach the image as a disk"},
             {"lun", "LUN (SCSI passthrough) devices are not supported by HAL; use a disk"},
             {"bootOrder", "boot order is not supported by HAL: the first disk boots"},
             {"serial", kNotSupported},
             {"cache", kNotSupported},
             {"io", kNotSupported},
             {"dedicatedIOThread", kNotSupported},
             {"tag", kNotSupported},
             {"blockSize", kNotSupported},
             {"shareable", kNotSupported},
             {"errorPolicy", kNotSupported},
             {"changedBlockTracking", kNotSupported}},
            errors)) {
      continue;
    }
    auto name = get_string(disk, "name", dp, errors);
    if (!disk.contains("name")) {
      errors.add(join(dp, "name"), "is required");
    } else if (name && !is_dns_label(*name)) {
      errors.add(join(dp, "name"), "must be a DNS-1123 label (lower-case letters, digits, '-')");
    } else if (name && !names.insert(*name).second) {
      errors.add(join(dp, "name"), "duplicate disk name \"" + *name + "\"");
    }
    if (auto target = disk.find("disk"); target != disk.end()) {
      const std::string tp = join(dp, "disk");
      if (check_fields(*target, tp, {"bus", "readonly"},
                       {{"pciAddress", "guest PCI addresses are not configurable in HAL"}},
                       errors)) {
        if (auto bus = get_string(*target, "bus", tp, errors)) {
          if (*bus == "usb") {
            errors.add(join(tp, "bus"), "usb disks are not supported by HAL (virtio, sata, scsi)");
          } else if (*bus != "virtio" && *bus != "sata" && *bus != "scsi") {
            errors.add(join(tp, "bus"), "must be virtio, sata or scsi, not \"" + *bus + "\"");
          }
        }
        get_bool(*target, "readonly", tp, errors);
      }
    }
  }
}

void check_interfaces(const json &devices, const std::string &path, Errors &errors) {
  auto it = devices.find("interfaces");
  if (it == devices.end()) return;
  const std::string p = join(path, "interfaces");
  if (!it->is_array()) {
    errors.add(p, std::string("must be a list, not ") + it->type_name());
    return;
  }
  if (it->size() > 32) errors.add(p, "at most 32 interfaces");
  const char *use_masquerade = "; use masquerade (a user-mode NIC)";
  std::set<std::string> names;
  for (size_t i = 0; i < it->size() && i < 256; ++i) {
    const json &nic = (*it)[i];
    const std::string ip = index(p, i);
    if (!check_fields(
            nic, ip, {"name", "masquerade", "model", "macAddress"},
            {{"bridge", std::string("bridge binding needs a host bridge and a secondary "
                                    "network, which HAL nodes do not set up") +
                            use_masquerade},
             {"sriov", std::string("SR-IOV needs virtual functions handed out by a device "
                                   "plugin, which HAL does not have") +
                           use_masquerade},
             {"slirp", std::string("slirp binding is not supported") + use_masquerade},
             {"passt", std::string("passt binding is not supported") + use_masquerade},
             {"macvtap", std::string("macvtap binding is not supported") + use_masquerade},
             {"binding", std::string("network binding plugins are not supported") + use_masquerade},
             {"ports", "port forwarding is not supported by HAL's user-mode NIC"},
             {"bootOrder", "boot order is not supported by HAL: the first disk boots"},
             {"pciAddress", "guest PCI addresses are not configurable in HAL"},
             {"dhcpOptions", kNotSupported},
             {"tag", kNotSupported},
             {"acpiIndex", kNotSupported},
             {"state", kNotSupported}},
            errors)) {
      continue;
    }
    auto name = get_string(nic, "name", ip, errors);
    if (!nic.contains("name")) {
      errors.add(join(ip, "name"), "is required");
    } else if (name && !is_dns_label(*name)) {
      errors.add(join(ip, "name"), "must be a DNS-1123 label (lower-case letters, digits, '-')");
    } else if (name && !names.insert(*name).second) {
      errors.add(join(ip, "name"), "duplicate interface name \"" + *name + "\"");
    }
    if (nic.contains("masquerade")) {
      check_fields(nic["masquerade"], join(ip, "masquerade"), {}, {}, errors);
    }
    if (auto model = get_string(nic, "model", ip, errors)) {
      if (*model != "virtio" && *model != "e1000" && *model != "e1000e" && *model != "rtl8139") {
        errors.add(join(ip, "model"),
                   "must be virtio, e1000, e1000e or rtl8139, not \"" + *model + "\"");
      }
    }
    if (auto mac = get_string(nic, "macAddress", ip, errors)) {
      bool ok = mac->size() == 17;
      for (size_t k = 0; ok && k < 17; ++k) {
        ok = (k % 3 == 2) ? (*mac)[k] == ':'
                          : std::isxdigit(static_cast<unsigned char>((*mac)[k])) != 0;
      }
      if (!ok) errors.add(join(ip, "macAddress"), "must be a MAC address like 02:00:00:12:34:56");
    }
  }
}

void check_devices(const json &domain, const std::string &path, Errors &errors) {
  auto it = domain.find("devices");
  if (it == domain.end()) return;
  const std::string p = join(path, "devices");
  const char *passthrough =
      "host device passthrough through device plugins is not supported by "
      "HAL";
  if (!check_fields(
          *it, p,
          {"disks", "interfaces", "autoattachSerialConsole", "autoattachPodInterface",
           "autoattachGraphicsDevice", "autoattachMemBalloon"},
          {{"gpus", passthrough},
           {"hostDevices", passthrough},
           {"watchdog", kNotSupported},
           {"inputs", "input devices are not supported: HAL VMs have a serial console only"},
           {"filesystems", "virtiofs filesystems are not supported by HAL"},
           {"tpm", "a virtual TPM is not supported by HAL"},
           {"sound", kNotSupported},
           {"video", "HAL VMs have no graphics device; use the serial console"},
           {"rng", kNotSupported},
           {"useVirtioTransitional", kNotSupported},
           {"disableHotplug", kNotSupported},
           {"logSerialConsole", kNotSupported},
           {"autoattachInputDevice", kNotSupported},
           {"autoattachVSOCK", kNotSupported},
           {"blockMultiQueue", kNotSupported},
           {"networkInterfaceMultiqueue", kNotSupported},
           {"downwardMetrics", kNotSupported},
           {"panicDevices", kNotSupported},
           {"clientPassthrough", kNotSupported}},
          errors)) {
    return;
  }
  get_bool(*it, "autoattachSerialConsole", p, errors);
  get_bool(*it, "autoattachPodInterface", p, errors);
  if (auto g = get_bool(*it, "autoattachGraphicsDevice", p, errors); g && *g) {
    errors.add(join(p, "autoattachGraphicsDevice"),
               "HAL VMs have no graphics device; set false or leave it out");
  }
  if (auto b = get_bool(*it, "autoattachMemBalloon", p, errors); b && *b) {
    errors.add(join(p, "autoattachMemBalloon"),
               "HAL does not attach a memory balloon; set false or leave it out");
  }
  check_disks(*it, p, errors);
  check_interfaces(*it, p, errors);
}

}  // namespace

/** Validates spec.domain (called from validate_vmi_spec). */
void validate_domain(const json &domain, const std::string &path, Errors &errors) {
  if (!check_fields(
          domain, path,
          {"resources", "cpu", "memory", "devices", "firmware", "launchSecurity", "machine"},
          {{"clock", "guest clock and timer settings are not supported by HAL"},
           {"features",
            "hypervisor features (acpi, apic, hyperv, smm, ...) are not "
            "configurable in HAL"},
           {"ioThreadsPolicy", kNotSupported},
           {"ioThreads", kNotSupported},
           {"chassis", "SMBIOS chassis information is not configurable in HAL"},
           {"rebootPolicy", kNotSupported}},
          errors)) {
    return;
  }
  check_cpu(domain, path, errors);
  check_memory(domain, path, errors);
  check_resources(domain, path, errors);
  check_firmware(domain, path, errors);
  check_machine(domain, path, errors);
  check_launch_security(domain, path, errors);
  check_devices(domain, path, errors);
}

}  // namespace hal::controller::detail
