// command_line_test.cc - unit tests of spec -> QEMU argv, including option-injection attempts.
#include "backends/kvm-qemu/command_line.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "backends/kvm-qemu/kvm_qemu_backend.h"
#include "backends/kvm-qemu/machine_type.h"
#include "backends/kvm-qemu/qemu_probe.h"
#include "backends/kvm-qemu/run_as.h"
#include "core/host/host_topology.h"
#include "core/spec/vm_spec.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {
namespace {

using Argv = std::vector<std::string>;

VmSpec parse(const char *json) {
  return parse_vm_spec(nlohmann::json::parse(json));
}

LaunchOptions options() {
  LaunchOptions o;
  o.binary = "qemu-system-x86_64";
  o.accelerator = "tcg";
  o.qmp_socket = "/run/hal/vm/qmp.sock";
  o.console_socket = "/run/hal/vm/console.sock";
  return o;
}

// The value following the first occurrence of `option` (or "" when absent).
std::string value_of(const Argv &argv, const std::string &option) {
  auto it = std::find(argv.begin(), argv.end(), option);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

// Every value following `option`.
Argv values_of(const Argv &argv, const std::string &option) {
  Argv out;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == option) out.push_back(argv[i + 1]);
  }
  return out;
}

bool has(const Argv &argv, const std::string &arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

// Splits a QemuOpts string at single commas (",," is an escaped comma) into key=value items.
Argv split_opts(const std::string &text) {
  Argv items;
  std::string current;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ',') {
      if (i + 1 < text.size() && text[i + 1] == ',') {
        current += ',';
        ++i;
        continue;
      }
      items.push_back(current);
      current.clear();
    } else {
      current += text[i];
    }
  }
  items.push_back(current);
  return items;
}

TEST(EscapeOptionValue, DoublesCommas) {
  EXPECT_EQ(escape_option_value("a,b"), "a,,b");
  EXPECT_EQ(escape_option_value(",,"), ",,,,");
  EXPECT_EQ(escape_option_value("plain=value"), "plain=value");
  EXPECT_EQ(escape_option_value(""), "");
}

TEST(BuildQemuArgv, MinimalSpec) {
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"minimal",
      "cpu":{"vcpus":1},"memory":{"size":"512Mi"}})"),
                              options());
  EXPECT_EQ(argv[0], "qemu-system-x86_64");
  EXPECT_EQ(value_of(argv, "-name"), "guest=minimal,debug-threads=on");
  EXPECT_EQ(value_of(argv, "-machine"), "q35,accel=tcg");
  EXPECT_EQ(value_of(argv, "-cpu"), "max");
  EXPECT_EQ(value_of(argv, "-smp"), "cpus=1,maxcpus=1,sockets=1,cores=1,threads=1");
  EXPECT_EQ(value_of(argv, "-m"), "size=512M");
  EXPECT_TRUE(has(argv, "-nodefaults"));
  EXPECT_TRUE(has(argv, "-no-user-config"));
  EXPECT_EQ(value_of(argv, "-display"), "none");
  EXPECT_TRUE(has(argv, "-S"));
  EXPECT_FALSE(has(argv, "-incoming"));
  Argv chardevs = values_of(argv, "-chardev");
  ASSERT_EQ(chardevs.size(), 2u);
  EXPECT_EQ(chardevs[0], "socket,id=qmp,path=/run/hal/vm/qmp.sock,server=on,wait=off");
  EXPECT_EQ(chardevs[1], "socket,id=serial0,path=/run/hal/vm/console.sock,server=on,wait=off");
  EXPECT_EQ(value_of(argv, "-mon"), "chardev=qmp,mode=control");
  EXPECT_TRUE(has(argv, "isa-serial,chardev=serial0,id=serial0-dev"));
}

// Issue 25: every QEMU runs with the seccomp sandbox; a run_as user is switched to.
TEST(BuildQemuArgv, SandboxAlwaysAndTheUnprivilegedUserWhenAsked) {
  const VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"sbx",
      "cpu":{"vcpus":1},"memory":{"size":"512Mi"}})");
  LaunchOptions opts = options();
  Argv argv = build_qemu_argv(spec, opts);
  EXPECT_EQ(value_of(argv, "-sandbox"),
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  EXPECT_FALSE(has(argv, "-runas"));
  EXPECT_FALSE(has(argv, "-run-with"));
  opts.run_as = "nobody";
  argv = build_qemu_argv(spec, opts);
  EXPECT_EQ(value_of(argv, "-runas"), "nobody");
  // QEMU before 9.1 installs the filter before -runas switches users.
  EXPECT_EQ(value_of(argv, "-sandbox"),
            "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny");
  opts.run_with_option = true;
  opts.run_as = "hal,vm";
  argv = build_qemu_argv(spec, opts);
  EXPECT_FALSE(has(argv, "-runas"));
  EXPECT_EQ(value_of(argv, "-run-with"), "user=hal,,vm");
  EXPECT_EQ(value_of(argv, "-sandbox"),
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
}

TEST(ChooseRunAs, RootRunsQemuAsNobodyUnlessConfiguredOtherwise) {
  struct passwd *nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  EXPECT_EQ(choose_run_as(std::nullopt, 0), "nobody");
  EXPECT_EQ(choose_run_as(std::nullopt, 1000), "");
  EXPECT_EQ(choose_run_as("nobody", 0), "nobody");
  EXPECT_EQ(choose_run_as("root", 0), "");  // the agent's own user: no switch
  EXPECT_EQ(choose_run_as("nobody", nobody->pw_uid), "");
  auto message = [](const std::optional<std::string> &user, uid_t euid) {
    try {
      choose_run_as(user, euid);
    } catch (const hal::plugin::Failure &failure) {
      EXPECT_EQ(failure.status, HAL_INVALID_ARGUMENT);
      return std::string(failure.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message("hal-no-such-user", 0),
            "kvm-qemu config.runAs: no user 'hal-no-such-user' on this host");
  EXPECT_EQ(message("root", 1000),
            "kvm-qemu config.runAs: 'root' has uid 0: QEMU must run as an unprivileged user");
  EXPECT_EQ(message("nobody", 1000),
            "kvm-qemu config.runAs: the agent is not root, so QEMU cannot switch to 'nobody'");
}

TEST(QemuAtLeast, ComparesMajorAndMinor) {
  EXPECT_TRUE(qemu_at_least("9.1.0", 9, 1));
  EXPECT_TRUE(qemu_at_least("10.0.2", 9, 1));
  EXPECT_FALSE(qemu_at_least("9.0.9", 9, 1));
  EXPECT_FALSE(qemu_at_least("7.2.22", 9, 1));
  EXPECT_FALSE(qemu_at_least("", 9, 1));
}

TEST(BuildQemuArgv, ThePinnedMachineIsTheOneLaunched) {
  VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"pinned","machine":"pc-q35-7.1",
      "cpu":{"vcpus":1},"memory":{"size":"512Mi"}})");
  EXPECT_EQ(value_of(build_qemu_argv(spec, options()), "-machine"), "pc-q35-7.1,accel=tcg");
}

TEST(ResolveMachine, Q35IsPinnedToItsVersionAndOthersAreRefusedByName) {
  QemuFeatures qemu;
  qemu.version = "7.2.0";
  qemu.machines = {"q35", "pc-q35-7.2", "pc-q35-7.1", "pc-i440fx-7.2"};
  qemu.q35_machine = "pc-q35-7.2";
  EXPECT_EQ(resolve_machine("", qemu), "pc-q35-7.2");
  EXPECT_EQ(resolve_machine("q35", qemu), "pc-q35-7.2");
  EXPECT_EQ(resolve_machine("pc-q35-7.1", qemu), "pc-q35-7.1");
  for (const std::string bad : {"pc-i440fx-7.2", "pc-q35-9.9", "microvm"}) {
    try {
      resolve_machine(bad, qemu);
      ADD_FAILURE() << bad;
    } catch (const hal::plugin::Failure &f) {
      EXPECT_EQ(f.status, HAL_UNSUPPORTED);
      EXPECT_NE(std::string(f.what()).find("spec.machine"), std::string::npos) << f.what();
    }
  }
  // A QEMU the probe learnt nothing from: q35 stays the alias.
  EXPECT_EQ(resolve_machine("", QemuFeatures{}), "q35");
}

TEST(BuildQemuArgv, KvmUsesHostCpuAndTopology) {
  LaunchOptions o = options();
  o.accelerator = "kvm";
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"topo",
      "cpu":{"vcpus":8,"topology":{"sockets":2,"cores":2,"threads":2}},"memory":{"size":"1Gi"}})"),
                              o);
  EXPECT_EQ(value_of(argv, "-machine"), "q35,accel=kvm");
  EXPECT_EQ(value_of(argv, "-cpu"), "host");
  EXPECT_EQ(value_of(argv, "-smp"), "cpus=8,maxcpus=8,sockets=2,cores=2,threads=2");
  EXPECT_EQ(value_of(argv, "-m"), "size=1024M");
}

TEST(BuildQemuArgv, HostModelFallsBackToMaxUnderTcg) {
  VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"h","cpu":{"vcpus":1,"model":"host"},
      "memory":{"size":"256Mi"}})");
  EXPECT_EQ(cpu_model_for(spec, "tcg"), "max");
  EXPECT_EQ(cpu_model_for(spec, "kvm"), "host");
}

TEST(BuildQemuArgv, DirectKernelBootDisksAndNics) {
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"boot",
      "cpu":{"vcpus":2},"memory":{"size":"256Mi"},
      "boot":{"kernel":"/k/vmlinuz","initrd":"/k/initrd.img","cmdline":"console=ttyS0 quiet"},
      "disks":[{"name":"root","path":"/d/root.qcow2","format":"qcow2"},
               {"name":"data","path":"/d/data.img","format":"raw","readOnly":true}],
      "nics":[{"name":"net0","type":"user","model":"virtio","mac":"52:54:00:12:34:56"},
              {"name":"net1","type":"user","model":"e1000e"}]})"),
                              options());
  EXPECT_EQ(value_of(argv, "-kernel"), "/k/vmlinuz");
  EXPECT_EQ(value_of(argv, "-initrd"), "/k/initrd.img");
  EXPECT_EQ(value_of(argv, "-append"), "console=ttyS0 quiet");
  Argv blockdevs = values_of(argv, "-blockdev");
  ASSERT_EQ(blockdevs.size(), 4u);
  EXPECT_EQ(blockdevs[0], "driver=file,node-name=disk0-file,filename=/d/root.qcow2,read-only=off");
  EXPECT_EQ(blockdevs[1], "driver=qcow2,node-name=disk0,file=disk0-file,read-only=off");
  EXPECT_EQ(blockdevs[2], "driver=file,node-name=disk1-file,filename=/d/data.img,read-only=on");
  EXPECT_EQ(blockdevs[3], "driver=raw,node-name=disk1,file=disk1-file,read-only=on");
  EXPECT_TRUE(has(argv, "virtio-blk-pci,drive=disk0,id=disk0-dev"));
  EXPECT_TRUE(has(argv, "virtio-blk-pci,drive=disk1,id=disk1-dev"));
  Argv netdevs = values_of(argv, "-netdev");
  ASSERT_EQ(netdevs.size(), 2u);
  EXPECT_EQ(netdevs[0], "user,id=net0");
  EXPECT_TRUE(has(argv, "virtio-net-pci,netdev=net0,id=net0-dev,mac=52:54:00:12:34:56"));
  EXPECT_TRUE(has(argv, "e1000e,netdev=net1,id=net1-dev"));
}

TEST(BuildQemuArgv, FirmwareBoot) {
  Argv bios = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"b","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},"boot":{"firmware":{"type":"bios","path":"/fw/bios.bin"}}})"),
                              options());
  EXPECT_EQ(value_of(bios, "-bios"), "/fw/bios.bin");
  Argv uefi = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"u","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},"boot":{"firmware":{"type":"uefi","path":"/fw/OVMF,CODE.fd"}}})"),
                              options());
  EXPECT_EQ(value_of(uefi, "-machine"), "q35,accel=tcg,pflash0=fw-code");
  EXPECT_EQ(value_of(uefi, "-blockdev"),
            "driver=file,node-name=fw-code,filename=/fw/OVMF,,CODE.fd,read-only=on");
}

TEST(BuildQemuArgv, GuestNumaWithHostBinding) {
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"numa",
      "cpu":{"vcpus":4},"memory":{"size":"512Mi"},
      "numa":{"nodes":[
        {"id":0,"vcpus":[0,1],"memory":"256Mi","hostNodes":[0],"policy":"bind"},
        {"id":1,"vcpus":[2,3],"memory":"256Mi","hostNodes":[0,1],"policy":"interleave"}]}})"),
                              options());
  Argv objects = values_of(argv, "-object");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0], "memory-backend-ram,id=numa-mem0,size=256M,host-nodes=0,policy=bind");
  EXPECT_EQ(
      objects[1],
      "memory-backend-ram,id=numa-mem1,size=256M,host-nodes=0,host-nodes=1,policy=interleave");
  Argv numa = values_of(argv, "-numa");
  ASSERT_EQ(numa.size(), 2u);
  EXPECT_EQ(numa[0], "node,nodeid=0,cpus=0,cpus=1,memdev=numa-mem0");
  EXPECT_EQ(numa[1], "node,nodeid=1,cpus=2,cpus=3,memdev=numa-mem1");
}

TEST(BuildQemuArgv, DeviceLocalityUsesPxbPerGuestNode) {
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"dev",
      "cpu":{"vcpus":2},"memory":{"size":"256Mi"},
      "numa":{"nodes":[{"id":0,"vcpus":[0],"memory":"128Mi"},{"id":1,"vcpus":[1],"memory":"128Mi"}]},
      "hostDevices":[
        {"name":"standin","type":"emulated","model":"e1000e","guestNumaNode":1},
        {"name":"gpu","type":"pci","pciAddress":"0000:3b:00.0","guestNumaNode":1},
        {"name":"flat","type":"emulated","model":"e1000e"}]})"),
                              options());
  Argv devices = values_of(argv, "-device");
  EXPECT_TRUE(has(devices, "pxb-pcie,id=pxb-node1,bus_nr=128,numa_node=1,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "pcie-root-port,id=hostdev0-port,bus=pxb-node1,chassis=1,slot=0"));
  EXPECT_TRUE(has(devices, "e1000e,id=hostdev0,bus=hostdev0-port"));
  EXPECT_TRUE(has(devices, "pcie-root-port,id=hostdev1-port,bus=pxb-node1,chassis=2,slot=0"));
  EXPECT_TRUE(has(devices, "vfio-pci,host=0000:3b:00.0,id=hostdev1,bus=hostdev1-port"));
  EXPECT_TRUE(has(devices, "e1000e,id=hostdev2,bus=pcie.0"));
  // Only one expander for node 1.
  EXPECT_EQ(std::count_if(devices.begin(), devices.end(),
                          [](const std::string &d) { return d.rfind("pxb-pcie", 0) == 0; }),
            1);
}

TEST(BuildQemuArgv, DeviceOnMissingGuestNodeIsInvalid) {
  VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"dev","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},
      "hostDevices":[{"name":"x","type":"emulated","model":"e1000e","guestNumaNode":0}]})");
  try {
    build_qemu_argv(spec, options());
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(failure.what()).find("spec.hostDevices[0].guestNumaNode"),
              std::string::npos);
  }
}

TEST(BuildQemuArgv, TdxAddsObjectAndSplitIrqchip) {
  LaunchOptions o = options();
  o.accelerator = "kvm";
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"tdx","cpu":{"vcpus":1},
      "memory":{"size":"1Gi"},"boot":{"firmware":{"type":"uefi","path":"/fw/OVMF.inteltdx.fd"}},
      "launchSecurity":{"type":"tdx","tdx":{"attributes":"0x10000000"}}})"),
                              o);
  EXPECT_EQ(value_of(argv, "-machine"),
            "q35,accel=kvm,confidential-guest-support=tdx0,kernel_irqchip=split");
  EXPECT_TRUE(has(values_of(argv, "-object"), "tdx-guest,id=tdx0,attributes=0x10000000"));
  EXPECT_EQ(value_of(argv, "-bios"), "/fw/OVMF.inteltdx.fd");
}

TEST(BuildQemuArgv, IncomingMigrationTarget) {
  LaunchOptions o = options();
  o.paused = false;
  o.incoming = true;
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"t","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"}})"),
                              o);
  EXPECT_EQ(value_of(argv, "-incoming"), "defer");
  EXPECT_FALSE(has(argv, "-S"));
}

TEST(BuildQemuArgv, UnsupportedNetworkingIsNamed) {
  VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"n","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},"nics":[{"name":"n0","type":"tap"}]})");
  try {
    build_qemu_argv(spec, options());
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_UNSUPPORTED);
    EXPECT_NE(std::string(failure.what()).find("spec.nics[0].type"), std::string::npos);
  }
}

// Paths with ',' and '=' (state dir, disk, firmware) must stay one option value each.
TEST(BuildQemuArgv, CommasAndEqualsInPathsCannotInjectOptions) {
  LaunchOptions o = options();
  o.qmp_socket = "/tmp/evil,server=off,path=/etc/x=y/qmp.sock";
  o.console_socket = "/tmp/a=b,logfile=/etc/passwd/console.sock";
  o.console_log = "/tmp/log,append=on";
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"inj","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},
      "disks":[{"name":"d","path":"/d/x,file.driver=nbd,file.host=evil=1","format":"raw"}]})"),
                              o);
  Argv chardevs = values_of(argv, "-chardev");
  ASSERT_EQ(chardevs.size(), 2u);
  Argv qmp = split_opts(chardevs[0]);
  EXPECT_EQ(qmp, (Argv{"socket", "id=qmp", "path=/tmp/evil,server=off,path=/etc/x=y/qmp.sock",
                       "server=on", "wait=off"}));
  Argv serial = split_opts(chardevs[1]);
  EXPECT_EQ(serial, (Argv{"socket", "id=serial0", "path=/tmp/a=b,logfile=/etc/passwd/console.sock",
                          "server=on", "wait=off", "logfile=/tmp/log,append=on", "logappend=on"}));
  Argv file = split_opts(values_of(argv, "-blockdev")[0]);
  EXPECT_EQ(file, (Argv{"driver=file", "node-name=disk0-file",
                        "filename=/d/x,file.driver=nbd,file.host=evil=1", "read-only=off"}));
}

TEST(BuildQemuArgv, NameWithCommasAndEqualsCannotInjectOptions) {
  // Spec names are DNS labels after validation; build the spec by hand to prove the escaping.
  VmSpec spec;
  spec.name = "x,debug-threads=off,process=evil";
  spec.cpu.vcpus = 1;
  spec.memory.size_bytes = 256ull << 20;
  Argv argv = build_qemu_argv(spec, options());
  EXPECT_EQ(split_opts(value_of(argv, "-name")),
            (Argv{"guest=x,debug-threads=off,process=evil", "debug-threads=on"}));
}

TEST(BuildQemuArgv, EmulatedModelMustBeADriverName) {
  VmSpec spec;
  spec.name = "m";
  spec.cpu.vcpus = 1;
  spec.memory.size_bytes = 256ull << 20;
  HostDeviceSpec device;
  device.type = HostDeviceType::kEmulated;
  device.model = "e1000e,romfile=/etc/shadow";
  spec.host_devices.push_back(device);
  EXPECT_THROW(build_qemu_argv(spec, options()), hal::plugin::Failure);
}

TEST(BuildQemuArgv, HugepagesUseMemfdBackend) {
  Argv argv = build_qemu_argv(parse(R"({"apiVersion":"hal.dev/v1","name":"hp","cpu":{"vcpus":1},
      "memory":{"size":"1Gi","hugepages":"2Mi"}})"),
                              options());
  EXPECT_EQ(value_of(argv, "-machine"), "q35,accel=tcg,memory-backend=ram0");
  EXPECT_EQ(value_of(argv, "-object"),
            "memory-backend-memfd,id=ram0,size=1024M,hugetlb=on,hugetlbsize=2097152");
}

// ---- NUMA-004: device placement from the host node ------------------------------------------

// A host with nodes 0 and 1 (CPUs 0-1 and 2-3) and one PCI device per node.
HostTopology two_node_host() {
  HostTopology host;
  host.online_cpus = {0, 1, 2, 3};
  host.numa_nodes = {{0, {0, 1}, 1u << 30}, {1, {2, 3}, 1u << 30}};
  host.pci_devices = {{"0000:3b:00.0", 0, "0x10de", "0x1db4", "0x030200"},
                      {"0000:af:00.0", 1, "0x10de", "0x1db4", "0x030200"},
                      {"0000:d8:00.0", -1, "0x8086", "0x0953", "0x010802"}};
  return host;
}

// Guest node 0 bound to host node 1, guest node 1 bound to host node 0 (so "same id" is wrong).
constexpr const char *kCrossedNuma = R"("numa":{"nodes":[
      {"id":0,"vcpus":[0],"memory":"128Mi","hostNodes":[1]},
      {"id":1,"vcpus":[1],"memory":"128Mi","hostNodes":[0]}]})";

VmSpec crossed_spec(const std::string &devices) {
  return parse((std::string(R"({"apiVersion":"hal.dev/v1","name":"dev","cpu":{"vcpus":2},
      "memory":{"size":"256Mi"},)") +
                kCrossedNuma + ",\"hostDevices\":[" + devices + "]}")
                   .c_str());
}

TEST(DevicePlacement, EmulatedHostNodeGoesOnTheBoundGuestNode) {
  VmSpec spec = crossed_spec(R"({"name":"d","type":"emulated","model":"e1000e","hostNumaNode":0})");
  EXPECT_EQ(guest_node_for_device(spec, 0, std::nullopt), std::optional<uint32_t>(1));
  Argv devices = values_of(build_qemu_argv(spec, options()), "-device");
  EXPECT_TRUE(has(devices, "pxb-pcie,id=pxb-node1,bus_nr=128,numa_node=1,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "pcie-root-port,id=hostdev0-port,bus=pxb-node1,chassis=1,slot=0"));
  EXPECT_TRUE(has(devices, "e1000e,id=hostdev0,bus=hostdev0-port"));
}

TEST(DevicePlacement, ExplicitGuestNodeWins) {
  VmSpec spec = crossed_spec(
      R"({"name":"d","type":"emulated","model":"e1000e","hostNumaNode":0,"guestNumaNode":0})");
  EXPECT_EQ(guest_node_for_device(spec, 0, two_node_host()), std::optional<uint32_t>(0));
}

TEST(DevicePlacement, PciHostNodeComesFromTheHostTopology) {
  VmSpec spec = crossed_spec(R"({"name":"a","type":"pci","pciAddress":"0000:3b:00.0"},
      {"name":"b","type":"pci","pciAddress":"0000:af:00.0","hostNumaNode":0},
      {"name":"c","type":"pci","pciAddress":"0000:d8:00.0"},
      {"name":"e","type":"pci","pciAddress":"0000:d8:00.0","hostNumaNode":1})");
  const std::optional<HostTopology> host = two_node_host();
  EXPECT_EQ(guest_node_for_device(spec, 0, host), std::optional<uint32_t>(1));  // host node 0
  EXPECT_EQ(guest_node_for_device(spec, 1, host), std::optional<uint32_t>(0));  // sysfs wins
  EXPECT_EQ(guest_node_for_device(spec, 2, host), std::nullopt);  // unknown node: pcie.0
  EXPECT_EQ(guest_node_for_device(spec, 3, host), std::optional<uint32_t>(0));  // spec fallback
  LaunchOptions o = options();
  o.host = host;
  Argv devices = values_of(build_qemu_argv(spec, o), "-device");
  EXPECT_TRUE(has(devices, "pxb-pcie,id=pxb-node1,bus_nr=128,numa_node=1,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "pxb-pcie,id=pxb-node0,bus_nr=136,numa_node=0,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "pcie-root-port,id=hostdev0-port,bus=pxb-node1,chassis=1,slot=0"));
  EXPECT_TRUE(has(devices, "pcie-root-port,id=hostdev1-port,bus=pxb-node0,chassis=2,slot=0"));
  EXPECT_TRUE(has(devices, "vfio-pci,host=0000:d8:00.0,id=hostdev2,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "pcie-root-port,id=hostdev3-port,bus=pxb-node0,chassis=3,slot=0"));
}

TEST(DevicePlacement, UnboundHostNodeFallsBackToGuestNodeZero) {
  VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"dev","cpu":{"vcpus":2},
      "memory":{"size":"256Mi"},
      "numa":{"nodes":[{"id":0,"vcpus":[0],"memory":"128Mi"},{"id":1,"vcpus":[1],"memory":"128Mi"}]},
      "hostDevices":[{"name":"d","type":"emulated","model":"e1000e","hostNumaNode":0}]})");
  EXPECT_EQ(guest_node_for_device(spec, 0, std::nullopt), std::optional<uint32_t>(0));
  Argv devices = values_of(build_qemu_argv(spec, options()), "-device");
  EXPECT_TRUE(has(devices, "pxb-pcie,id=pxb-node0,bus_nr=128,numa_node=0,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "e1000e,id=hostdev0,bus=hostdev0-port"));
}

TEST(DevicePlacement, NoNumaSectionMeansNoExpander) {
  VmSpec spec = parse(R"({"apiVersion":"hal.dev/v1","name":"dev","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},
      "hostDevices":[{"name":"d","type":"emulated","model":"e1000e","hostNumaNode":0},
                     {"name":"g","type":"pci","pciAddress":"0000:af:00.0"}]})");
  LaunchOptions o = options();
  o.host = two_node_host();
  EXPECT_EQ(guest_node_for_device(spec, 0, o.host), std::nullopt);
  EXPECT_EQ(guest_node_for_device(spec, 1, o.host), std::nullopt);
  Argv devices = values_of(build_qemu_argv(spec, o), "-device");
  EXPECT_TRUE(has(devices, "e1000e,id=hostdev0,bus=pcie.0"));
  EXPECT_TRUE(has(devices, "vfio-pci,host=0000:af:00.0,id=hostdev1,bus=pcie.0"));
  EXPECT_FALSE(std::any_of(devices.begin(), devices.end(),
                           [](const std::string &d) { return d.rfind("pxb-pcie", 0) == 0; }));
}

// ---- NUMA-005: host references must exist ---------------------------------------------------

// The Failure message build_qemu_argv throws for `spec` against a one-node host (node 0, CPUs
// 0-1), or "" when it succeeds.
std::string host_failure(const std::string &spec_json) {
  HostTopology host;
  host.online_cpus = {0, 1};
  host.numa_nodes = {{0, {0, 1}, 1u << 30}};
  LaunchOptions o = options();
  o.host = host;
  try {
    build_qemu_argv(parse(spec_json.c_str()), o);
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_INVALID_ARGUMENT);
    return failure.what();
  }
  return "";
}

TEST(HostReferences, DeviceOnMissingHostNodeIsInvalid) {
  EXPECT_EQ(host_failure(R"({"apiVersion":"hal.dev/v1","name":"dev","cpu":{"vcpus":1},
      "memory":{"size":"256Mi"},"numa":{"nodes":[{"id":0,"vcpus":[0],"memory":"256Mi"}]},
      "hostDevices":[{"name":"x","type":"emulated","model":"e1000e","hostNumaNode":101,
                      "guestNumaNode":0}]})"),
            "spec.hostDevices[0].hostNumaNode: host NUMA node 101 does not exist (host has "
            "nodes 0)");
}

TEST(HostReferences, GuestNodeBoundToMissingHostNodeIsInvalid) {
  EXPECT_EQ(host_failure(R"({"apiVersion":"hal.dev/v1","name":"numa","cpu":{"vcpus":2},
      "memory":{"size":"256Mi"},"numa":{"nodes":[
        {"id":0,"vcpus":[0],"memory":"128Mi","hostNodes":[0]},
        {"id":1,"vcpus":[1],"memory":"128Mi","hostNodes":[0,7]}]}})"),
            "spec.numa.nodes[1].hostNodes: host NUMA node 7 does not exist (host has nodes 0)");
}

TEST(HostReferences, PinningToMissingHostCpuIsInvalid) {
  EXPECT_EQ(host_failure(R"({"apiVersion":"hal.dev/v1","name":"pin","memory":{"size":"256Mi"},
      "cpu":{"vcpus":2,"pinning":[{"vcpu":0,"hostCpus":[0]},{"vcpu":1,"hostCpus":[1,1001]}]}})"),
            "spec.cpu.pinning[1].hostCpus: host CPU 1001 does not exist (host has CPUs 0-1)");
}

TEST(HostReferences, ExistingReferencesAreAccepted) {
  EXPECT_EQ(host_failure(R"({"apiVersion":"hal.dev/v1","name":"ok","memory":{"size":"256Mi"},
      "cpu":{"vcpus":2,"pinning":[{"vcpu":0,"hostCpus":[1]}]},
      "numa":{"nodes":[{"id":0,"vcpus":[0,1],"memory":"256Mi","hostNodes":[0]}]},
      "hostDevices":[{"name":"x","type":"emulated","model":"e1000e","hostNumaNode":0}]})"),
            "");
}

TEST(HostReferences, UnknownHostCpusAreNotChecked) {
  HostTopology host;
  host.numa_nodes = {{0, {}, 0}};
  EXPECT_NO_THROW(validate_host_references(
      parse(R"({"apiVersion":"hal.dev/v1","name":"pin","memory":{"size":"256Mi"},
      "cpu":{"vcpus":1,"pinning":[{"vcpu":0,"hostCpus":[5]}]}})"),
      host));
}

// vm_create (validate-only and real) and prepare_incoming check against the configured hostRoot.
class BackendHostReferences : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("hal-numafix-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    write("host/sys/devices/system/cpu/online", "0-1\n");
    write("host/sys/devices/system/node/node0/cpulist", "0-1\n");
    std::filesystem::create_directories(root_ / "state");
    config_ = nlohmann::json({{"stateDir", (root_ / "state").string()},
                              {"qemuBinary", "/bin/true"},
                              {"accelerator", "tcg"},
                              {"hostRoot", (root_ / "host").string()}})
                  .dump();
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void write(const std::string &rel, const std::string &text) {
    std::filesystem::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  static std::string spec(int host_node) {
    return R"({"apiVersion":"hal.dev/v1","name":"numa5","cpu":{"vcpus":1},
        "memory":{"size":"256Mi"},"numa":{"nodes":[{"id":0,"vcpus":[0],"memory":"256Mi"}]},
        "hostDevices":[{"name":"x","type":"emulated","model":"e1000e","hostNumaNode":)" +
           std::to_string(host_node) + R"(,"guestNumaNode":0}]})";
  }
  std::filesystem::path root_;
  std::string config_;
};

TEST_F(BackendHostReferences, CreateRefusesMissingHostNode) {
  KvmQemuBackend backend(config_, {});
  for (uint32_t flags : {uint32_t{HAL_CREATE_VALIDATE_ONLY}, uint32_t{0}}) {
    try {
      backend.create_vm(spec(101), flags);
      FAIL() << "expected a Failure (flags " << flags << ")";
    } catch (const hal::plugin::Failure &failure) {
      EXPECT_EQ(failure.status, HAL_INVALID_ARGUMENT);
      EXPECT_EQ(std::string(failure.what()),
                "spec.hostDevices[0].hostNumaNode: host NUMA node 101 does not exist (host has "
                "nodes 0)");
    }
  }
  EXPECT_NO_THROW(backend.create_vm(spec(0), HAL_CREATE_VALIDATE_ONLY));
  backend.close(0);
}

TEST_F(BackendHostReferences, PrepareIncomingRefusesMissingHostNode) {
  KvmQemuBackend backend(config_, {});
  std::string endpoint;
  try {
    backend.prepare_incoming(spec(101), "{}", endpoint);
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(failure.what()).find("spec.hostDevices[0].hostNumaNode"),
              std::string::npos);
  }
  EXPECT_EQ(backend.list_vms(), R"({"vms":[]})");
  backend.close(0);
}

}  // namespace
}  // namespace hal::kvm_qemu
