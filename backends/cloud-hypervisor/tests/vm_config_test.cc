// vm_config_test.cc - HAL spec -> Cloud Hypervisor VmConfig, checked against the emulator's
// schema and semantic checks (the same rules the emulated VMM applies).
#include "backends/cloud-hypervisor/vm_config.h"

#include <gtest/gtest.h>

#include "backends/cloud-hypervisor/emulator/config_checks.h"
#include "backends/cloud-hypervisor/emulator/vmm.h"
#include "backends/cloud-hypervisor/migration.h"
#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {
namespace {
using nlohmann::json;

HostTopology two_node_host() {
  HostTopology host;
  host.online_cpus = {0, 1, 2, 3};
  host.numa_nodes = {{0, {0, 1}, 1u << 30}, {1, {2, 3}, 1u << 30}};
  return host;
}

VmSpec numa_spec() {
  return parse_vm_spec(json::parse(R"({
    "apiVersion": "hal.dev/v1", "name": "n", "cpu": {"vcpus": 2,
      "pinning": [{"vcpu": 0, "hostCpus": [2]}]},
    "memory": {"size": "512Mi"},
    "numa": {"nodes": [
      {"id": 0, "vcpus": [0], "memory": "256Mi", "hostNodes": [0]},
      {"id": 1, "vcpus": [1], "memory": "256Mi", "hostNodes": [1], "policy": "preferred"}]},
    "hostDevices": [{"name": "nic", "type": "emulated", "model": "e1000e", "hostNumaNode": 1}],
    "boot": {"kernel": "/k", "cmdline": "console=ttyS0"}})"));
}

TEST(VmConfig, NumaNodesBecomeZonesNodesAndSegments) {
  VmConfigOptions options{"/run/serial.sock", two_node_host(), ""};
  json config = build_vm_config(numa_spec(), options);
  EXPECT_EQ(config["memory"]["size"], 0);
  ASSERT_EQ(config["memory"]["zones"].size(), 2u);
  EXPECT_EQ(config["memory"]["zones"][1]["host_numa_node"], 1);
  EXPECT_EQ(config["numa"][1]["memory_zones"], json({"mem1"}));
  EXPECT_EQ(config["numa"][1]["cpus"], json({1}));
  EXPECT_EQ(config["numa"][1]["pci_segments"], json({2}));
  EXPECT_EQ(config["platform"]["num_pci_segments"], 3);
  EXPECT_EQ(config["cpus"]["affinity"][0]["host_cpus"], json({2}));
  // The device on host node 1 sits on the segment of guest node 1.
  EXPECT_EQ(config["net"][0]["pci_segment"], 2);
  EXPECT_EQ(config["net"][0]["tap"], "nic")
      << "a stand-in NIC names its tap, never an unconnected one";
  EXPECT_EQ(config["serial"]["socket"], "/run/serial.sock");
  EXPECT_EQ(config["pvpanic"], true) << "guest panics are reported only through pvpanic";
  // The emulator's contract accepts what the backend builds.
  EXPECT_TRUE(ch_emulator::schema_errors("VmConfig", config).empty());
  EXPECT_TRUE(ch_emulator::validation_errors(config, {}).empty());
}

TEST(VmConfig, RefusesWhatTheHostLacks) {
  VmSpec spec = numa_spec();
  spec.numa_nodes[1].host_nodes = {7};
  VmConfigOptions options{"/s", two_node_host(), ""};
  try {
    build_vm_config(spec, options);
    FAIL() << "accepted a missing host node";
  } catch (const hal::plugin::Failure &f) {
    EXPECT_EQ(f.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(f.what()).find("numa.nodes[1].hostNodes"), std::string::npos);
  }
  spec = numa_spec();
  spec.cpu.pinning[0].host_cpus = {99};
  EXPECT_THROW(build_vm_config(spec, options), hal::plugin::Failure);
}

// Expects build_vm_config to refuse `spec` with HAL_UNSUPPORTED naming `field`.
void expect_unsupported(const VmSpec &spec, const std::string &field) {
  VmConfigOptions options{"/s", two_node_host(), ""};
  try {
    build_vm_config(spec, options);
    ADD_FAILURE() << field << " was accepted";
  } catch (const hal::plugin::Failure &f) {
    EXPECT_EQ(f.status, HAL_UNSUPPORTED);
    EXPECT_NE(std::string(f.what()).find(field), std::string::npos) << f.what();
  }
}

TEST(VmConfig, WhatCloudHypervisorCannotDoIsUnsupported) {
  VmSpec spec = numa_spec();
  spec.host_devices[0].model = "sb16";
  expect_unsupported(spec, "hostDevices[0].model");
}

TEST(VmConfig, MoreThanTwoThreadsPerCoreIsUnsupported) {
  VmSpec spec = numa_spec();
  spec.cpu.vcpus = 4;
  spec.numa_nodes.clear();
  spec.cpu.pinning.clear();
  spec.host_devices.clear();
  spec.cpu.topology = CpuTopology{1, 1, 4};
  expect_unsupported(spec, "cpu.topology.threads");
  spec.cpu.topology = CpuTopology{1, 2, 2};
  VmConfigOptions options{"/s", two_node_host(), ""};
  json config = build_vm_config(spec, options);
  EXPECT_EQ(config["cpus"]["topology"]["threads_per_core"], 2);
  EXPECT_TRUE(ch_emulator::validation_errors(config, {}).empty());
}

TEST(VmConfig, NicsNameTheirTapOrAreRefused) {
  VmSpec spec = numa_spec();
  spec.nics.push_back({"tap0", "tap", "virtio", "52:54:00:12:34:56"});
  VmConfigOptions options{"/s", two_node_host(), ""};
  json config = build_vm_config(spec, options);
  ASSERT_EQ(config["net"].size(), 2u);
  EXPECT_EQ(config["net"][0],
            json({{"id", "tap0"}, {"tap", "tap0"}, {"mac", "52:54:00:12:34:56"}}));
  spec.nics[0].type = "bridge";
  expect_unsupported(spec, "nics[0].type");
  spec.nics[0].type = "user";
  expect_unsupported(spec, "nics[0].type");
  spec.nics[0] = {"a-very-long-nic-name", "tap", "virtio", ""};
  try {
    build_vm_config(spec, options);
    ADD_FAILURE() << "a tap name longer than IFNAMSIZ was accepted";
  } catch (const hal::plugin::Failure &f) {
    EXPECT_EQ(f.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(f.what()).find("nics[0].name"), std::string::npos) << f.what();
  }
}

TEST(VmConfig, AMachineTypeIsUnsupported) {
  VmSpec spec = numa_spec();
  spec.machine = "pc-q35-7.2";
  expect_unsupported(spec, "spec.machine");
}

// migration-params tls: carried to the TLS relay, a bad one named.
TEST(MigrationParams, TlsIsParsedForTheRelay) {
  MigrationParams params = parse_migration_params(
      R"({"uri":"tcp:127.0.0.1:1","tls":{"dir":"/d","peerSubjects":["O=system:nodes,CN=*"]}})",
      MigrationPolicy{});
  ASSERT_TRUE(params.tls);
  EXPECT_EQ(params.tls->dir, "/d");
  EXPECT_EQ(params.tls->peer_subjects, std::vector<std::string>{"O=system:nodes,CN=*"});
  try {
    parse_migration_params(R"({"uri":"tcp:127.0.0.1:1","tls":{"dir":"d"}})", MigrationPolicy{});
    ADD_FAILURE() << "a relative params.tls.dir was accepted";
  } catch (const hal::plugin::Failure &f) {
    EXPECT_EQ(f.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(f.what()).find("params.tls.dir"), std::string::npos) << f.what();
  }
}

TEST(EmulatorChecks, AWrongVmConfigIsCaught) {
  VmConfigOptions options{"/s", two_node_host(), ""};
  json config = build_vm_config(numa_spec(), options);
  json broken = config;
  broken["numa"][0]["memory_zones"] = {"nope"};
  auto errors = ch_emulator::validation_errors(broken, {});
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("memory zone 'nope' does not exist"), std::string::npos);
  broken = config;
  broken["numa"][1]["cpus"] = {0};
  EXPECT_FALSE(ch_emulator::validation_errors(broken, {}).empty()) << "vCPU in two nodes";
  broken = config;
  broken["numa"][1]["pci_segments"] = {9};
  EXPECT_FALSE(ch_emulator::validation_errors(broken, {}).empty()) << "segment out of range";
  broken = config;
  broken["memory"]["size"] = 1 << 30;
  EXPECT_FALSE(ch_emulator::validation_errors(broken, {}).empty()) << "size with zones";
  broken = config;
  broken["cpus"]["boot_vcpus"] = "2";
  EXPECT_FALSE(ch_emulator::schema_errors("VmConfig", broken).empty()) << "type";
  broken = config;
  broken["memory"]["zones"][0]["host_numa"] = 0;
  EXPECT_FALSE(ch_emulator::schema_errors("VmConfig", broken).empty()) << "unknown field";
  broken = config;
  broken.erase("payload");
  EXPECT_FALSE(ch_emulator::schema_errors("VmConfig", broken).empty()) << "required payload";
  ch_emulator::CheckContext host;
  host.host_nodes = {0};
  host.host_cpus = {0, 1, 2, 3};
  auto boot = ch_emulator::boot_errors(config, host);
  bool named = false;
  for (const auto &e : boot) named |= e.find("host NUMA node 1") != std::string::npos;
  EXPECT_TRUE(named) << "zone bound to a host node that does not exist";
}

}  // namespace
}  // namespace hal::cloud_hypervisor
