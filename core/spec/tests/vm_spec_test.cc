// vm_spec_test.cc - the typed VmSpec model: conversion, defaults, errors and round trip.
#include "core/spec/vm_spec.h"

#include <gtest/gtest.h>

#include "core/spec/vm_spec_validation.h"

namespace hal {
namespace {

using nlohmann::json;

TEST(VmSpec, MinimalGetsDefaults) {
  const VmSpec s = parse_vm_spec(json::parse(
      R"({"apiVersion":"hal.dev/v1","name":"m","cpu":{"vcpus":2},"memory":{"size":"1Gi"}})"));
  EXPECT_EQ(s.name, "m");
  EXPECT_EQ(s.cpu.vcpus, 2u);
  EXPECT_FALSE(s.cpu.topology);
  EXPECT_EQ(s.memory.size_bytes, 1ull << 30);
  EXPECT_EQ(s.memory.hugepage_bytes, 0u);
  EXPECT_TRUE(s.numa_nodes.empty());
  EXPECT_FALSE(s.boot);
  EXPECT_TRUE(s.serial_console);
  EXPECT_EQ(s.launch_security.type, LaunchSecurityType::kNone);
  EXPECT_EQ(s.migration.max_downtime_ms, 300u);
  EXPECT_TRUE(s.migration.auto_converge);
  EXPECT_EQ(s.migration.completion_timeout_per_gib_seconds, 150u);
}

TEST(VmSpec, FullSpecConverts) {
  const VmSpec s = parse_vm_spec(json::parse(R"({
    "apiVersion": "hal.dev/v1", "name": "full",
    "cpu": {"vcpus": 2, "topology": {"sockets": 1, "cores": 2, "threads": 1}, "model": "max",
            "pinning": [{"vcpu": 1, "hostCpus": [5, 6]}]},
    "memory": {"size": "4Gi", "hugepages": "2Mi"},
    "numa": {"nodes": [{"id": 0, "vcpus": [0], "memory": "1Gi", "policy": "interleave"},
                       {"id": 1, "vcpus": [1], "memory": "3Gi", "hostNodes": [1]}]},
    "disks": [{"name": "d", "path": "/d.img"}],
    "nics": [{"name": "n", "type": "tap"}],
    "hostDevices": [{"name": "g", "type": "pci", "pciAddress": "0000:3b:00.0", "guestNumaNode": 1}],
    "boot": {"firmware": {"type": "uefi"}},
    "console": {"serial": false},
    "launchSecurity": {"type": "tdx"},
    "migration": {"multifdChannels": 8}
  })"));
  ASSERT_TRUE(s.cpu.topology);
  EXPECT_EQ(s.cpu.topology->cores, 2u);
  EXPECT_EQ(s.cpu.model, "max");
  ASSERT_EQ(s.cpu.pinning.size(), 1u);
  EXPECT_EQ(s.cpu.pinning[0].host_cpus, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(s.memory.hugepage_bytes, 2u << 20);
  ASSERT_EQ(s.numa_nodes.size(), 2u);
  EXPECT_EQ(s.numa_nodes[0].policy, NumaPolicy::kInterleave);
  EXPECT_EQ(s.numa_nodes[1].policy, NumaPolicy::kBind);
  EXPECT_EQ(s.numa_nodes[1].memory_bytes, 3ull << 30);
  EXPECT_EQ(s.numa_nodes[1].host_nodes, (std::vector<uint32_t>{1}));
  EXPECT_EQ(s.disks[0].format, "raw");
  EXPECT_EQ(s.disks[0].bus, "virtio");
  EXPECT_EQ(s.nics[0].type, "tap");
  EXPECT_EQ(s.nics[0].model, "virtio");
  EXPECT_EQ(s.host_devices[0].type, HostDeviceType::kPci);
  EXPECT_EQ(s.host_devices[0].guest_numa_node, 1u);
  EXPECT_FALSE(s.host_devices[0].host_numa_node);
  ASSERT_TRUE(s.boot && s.boot->firmware);
  EXPECT_EQ(s.boot->firmware->type, FirmwareType::kUefi);
  EXPECT_FALSE(s.serial_console);
  EXPECT_EQ(s.launch_security.type, LaunchSecurityType::kTdx);
  EXPECT_EQ(s.migration.multifd_channels, 8u);

  // The effective spec is valid and converts back to the same model.
  const json effective = to_json(s);
  EXPECT_EQ(format_errors(validate_vm_spec(effective)), "");
  EXPECT_EQ(to_json(parse_vm_spec(effective)), effective);
}

TEST(VmSpec, InvalidThrowsWithFormattedErrors) {
  try {
    parse_vm_spec(json::parse(R"({"apiVersion":"hal.dev/v1","name":"m","cpu":{"vcpus":0},
                                  "memory":{"size":"1Gi"}})"));
    FAIL() << "expected VmSpecError";
  } catch (const VmSpecError &e) {
    EXPECT_STREQ(e.what(), "spec.cpu.vcpus: must be >= 1");
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].path, "spec.cpu.vcpus");
  }
}

TEST(VmSpec, MachineIsOptionalRoundTripsAndMustBeAName) {
  const json base = json::parse(
      R"({"apiVersion":"hal.dev/v1","name":"m","cpu":{"vcpus":1},"memory":{"size":"1Gi"}})");
  EXPECT_EQ(parse_vm_spec(base).machine, "");
  EXPECT_FALSE(to_json(parse_vm_spec(base)).contains("machine"));
  json pinned = base;
  pinned["machine"] = "pc-q35-7.2";
  EXPECT_EQ(parse_vm_spec(pinned).machine, "pc-q35-7.2");
  EXPECT_EQ(to_json(parse_vm_spec(pinned))["machine"], "pc-q35-7.2");
  json bad = base;
  bad["machine"] = "q35,accel=kvm";  // nothing may be slipped into a command line
  try {
    parse_vm_spec(bad);
    FAIL() << "expected VmSpecError";
  } catch (const VmSpecError &e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].path, "spec.machine");
  }
}

}  // namespace
}  // namespace hal
