// command_line.cc - spec -> qemu-system-x86_64 argv (see command_line.h).
#include "backends/kvm-qemu/command_line.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "core/host/cpulist.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {
namespace {

using hal::plugin::Failure;

// Formats a byte count as a QEMU size: "256M", "4k" or "12345B".
std::string qemu_size(uint64_t bytes) {
  constexpr uint64_t kMiB = 1024 * 1024;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "M";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + "k";
  return std::to_string(bytes) + "B";
}

// Joins 0-based CPU indices as QEMU `-numa node,cpus=` repeats: "cpus=0,cpus=2".
std::string cpus_option(const std::vector<uint32_t> &cpus) {
  std::string out;
  for (uint32_t cpu : cpus) {
    if (!out.empty()) out += ',';
    out += "cpus=" + std::to_string(cpu);
  }
  return out;
}

// True for a QEMU device driver name we accept from a spec (no options, no "help").
bool valid_driver_name(const std::string &name) {
  if (name.empty() || name == "help" || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// The QEMU device for a NIC model.
std::string nic_driver(const NicSpec &nic, size_t index) {
  if (nic.model == "virtio") return "virtio-net-pci";
  if (nic.model == "e1000" || nic.model == "e1000e" || nic.model == "rtl8139") return nic.model;
  throw Failure(HAL_UNSUPPORTED, "spec.nics[" + std::to_string(index) + "].model: '" + nic.model +
                                     "' is not supported by kvm-qemu");
}

// Appends the disk options for disk `index`.
void add_disk(std::vector<std::string> &argv, const DiskSpec &disk, size_t index,
              bool &scsi_controller_added) {
  const std::string where = "spec.disks[" + std::to_string(index) + "]";
  if (disk.format != "raw" && disk.format != "qcow2") {
    throw Failure(HAL_UNSUPPORTED, where + ".format: '" + disk.format + "' is not supported");
  }
  const std::string node = "disk" + std::to_string(index);
  const std::string ro = disk.read_only ? "on" : "off";
  argv.push_back("-blockdev");
  argv.push_back("driver=file,node-name=" + node +
                 "-file,filename=" + escape_option_value(disk.path) + ",read-only=" + ro);
  argv.push_back("-blockdev");
  argv.push_back("driver=" + disk.format + ",node-name=" + node + ",file=" + node +
                 "-file,read-only=" + ro);
  argv.push_back("-device");
  if (disk.bus == "virtio") {
    argv.push_back("virtio-blk-pci,drive=" + node + ",id=" + node + "-dev");
  } else if (disk.bus == "scsi") {
    if (!scsi_controller_added) {
      argv.push_back("virtio-scsi-pci,id=scsi0");
      argv.push_back("-device");
      scsi_controller_added = true;
    }
    argv.push_back("scsi-hd,bus=scsi0.0,drive=" + node + ",id=" + node + "-dev");
  } else if (disk.bus == "sata") {
    if (index > 5) throw Failure(HAL_OUT_OF_RANGE, where + ".bus: at most 6 sata disks");
    argv.push_back("ide-hd,bus=ide." + std::to_string(index) + ",drive=" + node + ",id=" + node +
                   "-dev");
  } else {
    throw Failure(HAL_UNSUPPORTED, where + ".bus: '" + disk.bus + "' is not supported");
  }
}

// Appends the options of guest NUMA node `node` (memory backend + -numa node).
void add_numa_node(std::vector<std::string> &argv, const NumaNodeSpec &node, uint64_t hugepage) {
  const std::string mem = "numa-mem" + std::to_string(node.id);
  std::string object = hugepage != 0 ? "memory-backend-memfd" : "memory-backend-ram";
  object += ",id=" + mem + ",size=" + qemu_size(node.memory_bytes);
  if (hugepage != 0) object += ",hugetlb=on,hugetlbsize=" + std::to_string(hugepage);
  if (!node.host_nodes.empty()) {
    for (uint32_t host_node : node.host_nodes) {
      object += ",host-nodes=" + std::to_string(host_node);
    }
    object += std::string(",policy=") + to_string(node.policy);
  }
  argv.push_back("-object");
  argv.push_back(object);
  std::string numa = "node,nodeid=" + std::to_string(node.id);
  if (!node.vcpus.empty()) numa += "," + cpus_option(node.vcpus);
  numa += ",memdev=" + mem;
  argv.push_back("-numa");
  argv.push_back(numa);
}

// Appends host devices; devices with a guest NUMA node sit behind a pxb-pcie on that node
// (placement rule: guest_node_for_device in command_line.h).
void add_host_devices(std::vector<std::string> &argv, const VmSpec &spec,
                      const std::optional<HostTopology> &host) {
  std::set<uint32_t> guest_nodes;
  for (const NumaNodeSpec &node : spec.numa_nodes) guest_nodes.insert(node.id);
  std::map<uint32_t, std::string> pxb_of_node;  // guest node -> pxb id
  int chassis = 1;
  for (size_t i = 0; i < spec.host_devices.size(); ++i) {
    const HostDeviceSpec &device = spec.host_devices[i];
    const std::string where = "spec.hostDevices[" + std::to_string(i) + "]";
    const std::string id = "hostdev" + std::to_string(i);
    std::string bus = "pcie.0";
    if (std::optional<uint32_t> guest_node = guest_node_for_device(spec, i, host)) {
      uint32_t node = *guest_node;
      if (!guest_nodes.count(node)) {
        throw Failure(HAL_INVALID_ARGUMENT, where + ".guestNumaNode: guest NUMA node " +
                                                std::to_string(node) + " is not in spec.numa");
      }
      auto it = pxb_of_node.find(node);
      if (it == pxb_of_node.end()) {
        const std::string pxb = "pxb-node" + std::to_string(node);
        // Each expander takes a block of 8 bus numbers from 0x80 up.
        const size_t bus_nr = 0x80 + 8 * pxb_of_node.size();
        if (bus_nr > 0xf8) throw Failure(HAL_OUT_OF_RANGE, where + ": too many device NUMA nodes");
        argv.push_back("-device");
        argv.push_back("pxb-pcie,id=" + pxb + ",bus_nr=" + std::to_string(bus_nr) +
                       ",numa_node=" + std::to_string(node) + ",bus=pcie.0");
        it = pxb_of_node.emplace(node, pxb).first;
      }
      const std::string port = id + "-port";
      argv.push_back("-device");
      argv.push_back("pcie-root-port,id=" + port + ",bus=" + it->second +
                     ",chassis=" + std::to_string(chassis++) + ",slot=0");
      bus = port;
    }
    std::string driver;
    if (device.type == HostDeviceType::kPci) {
      driver = "vfio-pci,host=" + escape_option_value(device.pci_address);
    } else {
      if (!valid_driver_name(device.model)) {
        throw Failure(HAL_INVALID_ARGUMENT,
                      where + ".model: '" + device.model + "' is not a QEMU device name");
      }
      driver = device.model;
    }
    argv.push_back("-device");
    argv.push_back(driver + ",id=" + id + ",bus=" + bus);
  }
}

// "0,1" for host NUMA node ids.
std::string node_list(const HostTopology &host) {
  std::vector<uint32_t> ids;
  for (const HostNumaNode &node : host.numa_nodes) ids.push_back(node.id);
  return format_cpulist(std::move(ids));
}

bool host_has_node(const HostTopology &host, uint32_t id) {
  return std::any_of(host.numa_nodes.begin(), host.numa_nodes.end(),
                     [id](const HostNumaNode &node) { return node.id == id; });
}

void check_host_node(const HostTopology &host, uint32_t id, const std::string &where) {
  if (!host_has_node(host, id)) {
    throw Failure(HAL_INVALID_ARGUMENT, where + ": host NUMA node " + std::to_string(id) +
                                            " does not exist (host has nodes " + node_list(host) +
                                            ")");
  }
}

}  // namespace

void validate_host_references(const VmSpec &spec, const HostTopology &host) {
  for (size_t i = 0; i < spec.numa_nodes.size(); ++i) {
    for (uint32_t id : spec.numa_nodes[i].host_nodes) {
      check_host_node(host, id, "spec.numa.nodes[" + std::to_string(i) + "].hostNodes");
    }
  }
  for (size_t i = 0; i < spec.host_devices.size(); ++i) {
    if (spec.host_devices[i].host_numa_node) {
      check_host_node(host, *spec.host_devices[i].host_numa_node,
                      "spec.hostDevices[" + std::to_string(i) + "].hostNumaNode");
    }
  }
  if (host.online_cpus.empty()) return;  // the host's CPUs are unknown: nothing to check against
  for (size_t i = 0; i < spec.cpu.pinning.size(); ++i) {
    for (uint32_t cpu : spec.cpu.pinning[i].host_cpus) {
      if (std::find(host.online_cpus.begin(), host.online_cpus.end(), cpu) ==
          host.online_cpus.end()) {
        throw Failure(HAL_INVALID_ARGUMENT, "spec.cpu.pinning[" + std::to_string(i) +
                                                "].hostCpus: host CPU " + std::to_string(cpu) +
                                                " does not exist (host has CPUs " +
                                                format_cpulist(host.online_cpus) + ")");
      }
    }
  }
}

std::optional<uint32_t> guest_node_for_device(const VmSpec &spec, size_t device_index,
                                              const std::optional<HostTopology> &host) {
  const HostDeviceSpec &device = spec.host_devices.at(device_index);
  if (device.guest_numa_node) return device.guest_numa_node;
  if (spec.numa_nodes.empty()) return std::nullopt;
  std::optional<uint32_t> host_node;
  if (device.type == HostDeviceType::kPci && host) {
    for (const HostPciDevice &pci : host->pci_devices) {
      if (pci.address == device.pci_address && pci.numa_node >= 0) {
        host_node = static_cast<uint32_t>(pci.numa_node);
      }
    }
  }
  if (!host_node) host_node = device.host_numa_node;
  if (!host_node) return std::nullopt;
  for (const NumaNodeSpec &node : spec.numa_nodes) {
    if (std::find(node.host_nodes.begin(), node.host_nodes.end(), *host_node) !=
        node.host_nodes.end()) {
      return node.id;
    }
  }
  uint32_t lowest = spec.numa_nodes.front().id;
  for (const NumaNodeSpec &node : spec.numa_nodes) lowest = std::min(lowest, node.id);
  return lowest;
}

std::string escape_option_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string cpu_model_for(const VmSpec &spec, std::string_view accelerator) {
  const bool kvm = accelerator == "kvm";
  if (spec.cpu.model.empty()) return kvm ? "host" : "max";
  if (spec.cpu.model == "host" && !kvm) return "max";
  return spec.cpu.model;
}

std::vector<std::string> build_qemu_argv(const VmSpec &spec, const LaunchOptions &options) {
  if (options.accelerator != "kvm" && options.accelerator != "tcg") {
    throw Failure(HAL_INVALID_ARGUMENT,
                  "accelerator must be kvm or tcg, not '" + options.accelerator + "'");
  }
  if (options.host) validate_host_references(spec, *options.host);
  const bool tdx = spec.launch_security.type == LaunchSecurityType::kTdx;
  std::vector<std::string> argv = {options.binary};
  auto add = [&argv](std::string option, std::string value) {
    argv.push_back(std::move(option));
    argv.push_back(std::move(value));
  };

  add("-name", "guest=" + escape_option_value(spec.name) + ",debug-threads=on");

  std::string machine =
      (spec.machine.empty() ? std::string("q35") : spec.machine) + ",accel=" + options.accelerator;
  if (tdx) machine += ",confidential-guest-support=tdx0,kernel_irqchip=split";
  const bool uefi_pflash =
      !tdx && spec.boot && spec.boot->firmware && spec.boot->firmware->type == FirmwareType::kUefi;
  if (uefi_pflash) machine += ",pflash0=fw-code";
  if (spec.numa_nodes.empty() && spec.memory.hugepage_bytes != 0) machine += ",memory-backend=ram0";
  add("-machine", machine);
  add("-cpu", escape_option_value(cpu_model_for(spec, options.accelerator)));

  const uint32_t vcpus = spec.cpu.vcpus;
  CpuTopology topology = spec.cpu.topology.value_or(CpuTopology{1, vcpus, 1});
  add("-smp", "cpus=" + std::to_string(vcpus) + ",maxcpus=" + std::to_string(vcpus) + ",sockets=" +
                  std::to_string(topology.sockets) + ",cores=" + std::to_string(topology.cores) +
                  ",threads=" + std::to_string(topology.threads));
  add("-m", "size=" + qemu_size(spec.memory.size_bytes));
  argv.push_back("-nodefaults");
  argv.push_back("-no-user-config");
  add("-display", "none");
  add("-chardev",
      "socket,id=qmp,path=" + escape_option_value(options.qmp_socket) + ",server=on,wait=off");
  add("-mon", "chardev=qmp,mode=control");

  if (spec.serial_console) {
    std::string chardev = "socket,id=serial0,path=" + escape_option_value(options.console_socket) +
                          ",server=on,wait=off";
    if (!options.console_log.empty()) {
      chardev += ",logfile=" + escape_option_value(options.console_log) + ",logappend=on";
    }
    add("-chardev", chardev);
    add("-device", "isa-serial,chardev=serial0,id=serial0-dev");
  }

  if (tdx) {
    std::string object = "tdx-guest,id=tdx0";
    const LaunchSecuritySpec &ls = spec.launch_security;
    if (!ls.tdx_attributes.empty())
      object += ",attributes=" + escape_option_value(ls.tdx_attributes);
    if (!ls.tdx_mr_config_id.empty())
      object += ",mrconfigid=" + escape_option_value(ls.tdx_mr_config_id);
    if (!ls.tdx_mr_owner.empty()) object += ",mrowner=" + escape_option_value(ls.tdx_mr_owner);
    add("-object", object);
  }

  // Memory: one backend per guest NUMA node, or a hugepage backend for the whole guest.
  if (!spec.numa_nodes.empty()) {
    for (const NumaNodeSpec &node : spec.numa_nodes) {
      add_numa_node(argv, node, spec.memory.hugepage_bytes);
    }
  } else if (spec.memory.hugepage_bytes != 0) {
    add("-object", "memory-backend-memfd,id=ram0,size=" + qemu_size(spec.memory.size_bytes) +
                       ",hugetlb=on,hugetlbsize=" + std::to_string(spec.memory.hugepage_bytes));
  }

  // Boot: direct kernel boot or firmware.
  if (spec.boot) {
    const BootSpec &boot = *spec.boot;
    if (!boot.kernel.empty()) {
      // -kernel/-initrd/-append take their value verbatim (not QemuOpts): no escaping.
      add("-kernel", boot.kernel);
      if (!boot.initrd.empty()) add("-initrd", boot.initrd);
      if (!boot.cmdline.empty()) add("-append", boot.cmdline);
    }
    if (boot.firmware) {
      const FirmwareSpec &fw = *boot.firmware;
      if (tdx) {
        if (fw.path.empty())
          throw Failure(HAL_INVALID_ARGUMENT, "spec.boot.firmware.path: TDX needs a TDVF image");
        add("-bios", fw.path);
      } else if (fw.type == FirmwareType::kBios) {
        if (!fw.path.empty()) add("-bios", fw.path);
      } else {
        const std::string code = fw.path.empty() ? options.default_uefi_code : fw.path;
        add("-blockdev", "driver=file,node-name=fw-code,filename=" + escape_option_value(code) +
                             ",read-only=on");
      }
    }
  }

  bool scsi = false;
  for (size_t i = 0; i < spec.disks.size(); ++i) add_disk(argv, spec.disks[i], i, scsi);

  for (size_t i = 0; i < spec.nics.size(); ++i) {
    const NicSpec &nic = spec.nics[i];
    if (nic.type != "user") {
      throw Failure(HAL_UNSUPPORTED, "spec.nics[" + std::to_string(i) + "].type: '" + nic.type +
                                         "' networking is not supported by kvm-qemu (only user)");
    }
    const std::string id = "net" + std::to_string(i);
    add("-netdev", "user,id=" + id);
    std::string device = nic_driver(nic, i) + ",netdev=" + id + ",id=" + id + "-dev";
    if (!nic.mac.empty()) device += ",mac=" + escape_option_value(nic.mac);
    add("-device", device);
  }

  add_host_devices(argv, spec, options.host);

  // Lets GUEST_PANICKED reach us when the guest kernel panics.
  add("-device", "pvpanic");

  if (options.paused) argv.push_back("-S");
  if (options.incoming) add("-incoming", "defer");
  add("-sandbox", sandbox_option(options));
  if (!options.run_as.empty()) {
    if (options.run_with_option) {
      add("-run-with", "user=" + escape_option_value(options.run_as));
    } else {
      add("-runas", options.run_as);
    }
  }
  return argv;
}

std::string sandbox_option(const LaunchOptions &options) {
  const bool setuid_after_filter = !options.run_as.empty() && !options.run_with_option;
  return std::string("on,obsolete=deny,elevateprivileges=") +
         (setuid_after_filter ? "allow" : "deny") + ",spawn=deny,resourcecontrol=deny";
}

}  // namespace hal::kvm_qemu
