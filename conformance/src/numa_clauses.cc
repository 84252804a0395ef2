// numa_clauses.cc - clauses of the "numa" profile: guest NUMA nodes as specified, host binding
// policy, vCPU pinning (info and the vCPU threads' real affinity), device placement on the guest
// node of its host node, and rejection of impossible placements.
#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <set>

#include "clause.h"
#include "guest.h"
#include "hal/host.hpp"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kNuma = "numa";

Suite &S() {
  return suite();
}

/** Host nodes to place guest nodes 0 and 1 on (the same node twice on a 1-node host). */
std::pair<int, int> host_pair() {
  auto nodes = S().host_nodes();
  if (nodes.empty()) return {0, 0};
  return {nodes[0].first, nodes.size() > 1 ? nodes[1].first : nodes[0].first};
}

/** 2 vCPUs, 2 guest nodes of 256Mi: node 0 bound to host node A, node 1 preferring B. */
nlohmann::json numa_overrides() {
  auto [a, b] = host_pair();
  return {
      {"cpu", {{"vcpus", 2}}},
      {"memory", {{"size", "512Mi"}}},
      {"numa",
       {{"nodes",
         {{{"id", 0}, {"vcpus", {0}}, {"memory", "256Mi"}, {"hostNodes", {a}}, {"policy", "bind"}},
          {{"id", 1},
           {"vcpus", {1}},
           {"memory", "256Mi"},
           {"hostNodes", {b}},
           {"policy", "preferred"}}}}}}};
}

/** Creates and starts a VM from `overrides`; asserts RUNNING. */
Vm start_numa_vm(Backend &backend, Cleanup &cleanup, const std::string &tag,
                 const nlohmann::json &overrides) {
  std::string name = S().vm_name(tag);
  cleanup.add(name);
  Vm vm = backend.create(S().spec(name, overrides));
  vm.start();
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  return vm;
}

/** The placement entry of guest node `id` in info, or null. */
nlohmann::json placement(const nlohmann::json &info, int id) {
  for (const auto &p : info.value("numaPlacement", nlohmann::json::array())) {
    if (p.value("guestNode", -1) == id) return p;
  }
  return nullptr;
}

/** Expects `overrides` to be refused at vm_create or vm_start, never RUNNING. */
void expect_refused(const nlohmann::json &overrides, const std::string &what) {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  std::string name = S().vm_name("impossible");
  cleanup.add(name);
  Vm vm;
  Outcome o = outcome_of([&] { vm = backend.create(S().spec(name, overrides)); });
  if (o.status == HAL_OK) o = outcome_of([&] { vm.start(); });
  EXPECT_NE(o.status, HAL_OK) << what << " was accepted and started";
  EXPECT_NE(o.status, HAL_INTERNAL) << what << ": " << o.str();
  if (o.status != HAL_OK) {
    EXPECT_FALSE(o.message.empty()) << what << ": empty error message";
  }
  if (vm) {
    hal_vm_state st = HAL_VM_STATE_UNKNOWN;
    outcome_of([&] { st = vm.state(); });
    EXPECT_NE(state_name(st), "Running") << what;
  }
}

}  // namespace

HAL_CLAUSE(NUMA_001, kNuma, MUST, "",
           "the guest sees the NUMA nodes of its spec (console marker \"HAL-GUEST: numa "
           "nodes=N\" where the backend offers a console, else info.numaPlacement)") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = start_numa_vm(backend, cleanup, "nodes", numa_overrides());
  std::string source;
  auto nodes = guest_numa_nodes(vm, S().wait, source);
  ASSERT_TRUE(nodes.has_value()) << "neither the console nor info reports guest NUMA nodes";
  ::testing::Test::RecordProperty("evidence", source);
  EXPECT_EQ(*nodes, 2) << "guest NUMA nodes (" << source << ")";
}

HAL_CLAUSE(NUMA_002, kNuma, MUST, "",
           "the host binding of every guest node is applied as specified: info.numaPlacement "
           "lists the spec's hostNodes and policy for each guest node") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  nlohmann::json overrides = numa_overrides();
  Vm vm = start_numa_vm(backend, cleanup, "bind", overrides);
  nlohmann::json info = vm.info();
  for (const auto &node : overrides["numa"]["nodes"]) {
    int id = node["id"];
    nlohmann::json p = placement(info, id);
    ASSERT_FALSE(p.is_null()) << "no numaPlacement for guest node " << id << ": " << info.dump();
    EXPECT_EQ(p.value("hostNodes", nlohmann::json::array()), node["hostNodes"])
        << "guest node " << id;
    EXPECT_EQ(p.value("policy", ""), node["policy"]) << "guest node " << id;
  }
}

HAL_CLAUSE(NUMA_003, kNuma, MUST, "features.vcpuPinning",
           "vCPU pinning is applied: info.vcpuThreads report each pinned vCPU's affinity as "
           "specified, and where thread ids are given the threads' real affinity matches") {
  auto cpus = S().host_cpus();
  ASSERT_FALSE(cpus.empty());
  int c0 = cpus.front(), c1 = cpus.size() > 1 ? cpus[1] : cpus.front();
  nlohmann::json overrides = {
      {"cpu",
       {{"vcpus", 2},
        {"pinning", {{{"vcpu", 0}, {"hostCpus", {c0}}}, {{"vcpu", 1}, {"hostCpus", {c1}}}}}}}};
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = start_numa_vm(backend, cleanup, "pin", overrides);
  nlohmann::json info = vm.info();
  std::map<int, int> want = {{0, c0}, {1, c1}};
  int checked = 0;
  for (const auto &t : info.value("vcpuThreads", nlohmann::json::array())) {
    int v = t.value("vcpu", -1);
    if (!want.count(v)) continue;
    ++checked;
    EXPECT_EQ(t.value("affinity", nlohmann::json::array()), nlohmann::json::array({want[v]}))
        << "vCPU " << v << " affinity in info";
    if (t.contains("tid") && info.contains("pid") &&
        std::filesystem::exists("/proc/" + std::to_string(info["pid"].get<int>()) + "/task/" +
                                std::to_string(t["tid"].get<int>()))) {
      cpu_set_t set;
      CPU_ZERO(&set);
      ASSERT_EQ(sched_getaffinity(t["tid"].get<pid_t>(), sizeof set, &set), 0);
      EXPECT_EQ(CPU_COUNT(&set), 1) << "vCPU " << v << " thread runs on more than one CPU";
      EXPECT_TRUE(CPU_ISSET(want[v], &set)) << "vCPU " << v << " thread not on CPU " << want[v];
      ::testing::Test::RecordProperty("evidence", "sched_getaffinity");
    }
  }
  EXPECT_EQ(checked, 2) << "info.vcpuThreads does not list both vCPUs: " << info.dump();
}

HAL_CLAUSE(NUMA_004, kNuma, MUST, "",
           "a host device with a host NUMA node and no guestNumaNode is placed on the guest "
           "node bound to that host node (info.hostDevices or the console's \"HAL-GUEST: pci\" "
           "line)") {
  auto [a, b] = host_pair();
  nlohmann::json overrides = numa_overrides();
  overrides["hostDevices"] = {
      {{"name", "numadev"}, {"type", "emulated"}, {"model", "e1000e"}, {"hostNumaNode", b}}};
  std::set<int> expected;
  for (const auto &n : overrides["numa"]["nodes"]) {
    for (const auto &h : n["hostNodes"]) {
      if (h.get<int>() == b) expected.insert(n["id"].get<int>());
    }
  }
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = start_numa_vm(backend, cleanup, "dev", overrides);
  std::string source;
  auto node = guest_device_node(vm, "numadev", "e1000e", S().wait, source);
  ASSERT_TRUE(node.has_value()) << "the device's guest NUMA node is not reported: "
                                << vm.info().dump();
  ::testing::Test::RecordProperty("evidence", source);
  EXPECT_TRUE(expected.count(*node))
      << "device on guest node " << *node << " (host node " << b << ", source " << source << ")";
  (void)a;
}

HAL_CLAUSE(NUMA_005, kNuma, MUST, "",
           "impossible NUMA placements are refused with an error (at vm_create or vm_start), "
           "never run: a guest node bound to a host node that does not exist, a device on a "
           "missing host node") {
  int missing = 0;
  for (const auto &[id, cpus] : S().host_nodes()) missing = std::max(missing, id + 1);
  missing += 100;
  nlohmann::json overrides = numa_overrides();
  overrides["numa"]["nodes"][1]["hostNodes"] = {missing};
  expect_refused(overrides, "guest node bound to host node " + std::to_string(missing));
  nlohmann::json dev = {{"hostDevices",
                         {{{"name", "ghost"},
                           {"type", "emulated"},
                           {"model", "e1000e"},
                           {"hostNumaNode", missing},
                           {"guestNumaNode", 0}}}}};
  nlohmann::json overrides2 = numa_overrides();
  overrides2["hostDevices"] = dev["hostDevices"];
  expect_refused(overrides2, "device on host node " + std::to_string(missing));
}

HAL_CLAUSE(NUMA_006, kNuma, MUST, "",
           "pinning a vCPU to a host CPU that does not exist is refused with an error, never "
           "run") {
  int missing = 0;
  for (int c : S().host_cpus()) missing = std::max(missing, c + 1);
  missing += 1000;
  expect_refused({{"cpu", {{"vcpus", 1}, {"pinning", {{{"vcpu", 0}, {"hostCpus", {missing}}}}}}}},
                 "pinning to host CPU " + std::to_string(missing));
}

HAL_CLAUSE(NUMA_007, kNuma, SHOULD, "",
           "info.numaPlacement reports each guest node's memory as specified (bytes)") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = start_numa_vm(backend, cleanup, "mem", numa_overrides());
  nlohmann::json info = vm.info();
  for (int id : {0, 1}) {
    nlohmann::json p = placement(info, id);
    ASSERT_FALSE(p.is_null()) << "no placement for guest node " << id;
    EXPECT_EQ(p.value("memory", int64_t{0}), int64_t{256} << 20) << "guest node " << id;
  }
}

}  // namespace hal::conformance
