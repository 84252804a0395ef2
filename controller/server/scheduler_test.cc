// scheduler_test.cc - filtering and scoring on synthetic nodes.
#include "controller/server/scheduler.h"

#include <gtest/gtest.h>

namespace hal::controller {
namespace {

using nlohmann::json;
constexpr uint64_t kGi = 1024ull * 1024 * 1024;

json caps(bool migration, bool numa, bool tdx) {
  return json{
      {"features",
       {{"liveMigration", migration}, {"numa", numa}, {"tdx", tdx}, {"vcpuPinning", true}}}};
}

json host(int nodes, int cpus_per_node, uint64_t mem_per_node, bool tdx = false) {
  json info{{"numaNodes", json::array()},
            {"tdx", {{"supported", tdx}, {"reason", tdx ? "" : "no TDX module"}}}};
  for (int n = 0; n < nodes; ++n) {
    json cpus = json::array();
    for (int c = 0; c < cpus_per_node; ++c) cpus.push_back(n * cpus_per_node + c);
    info["numaNodes"].push_back({{"id", n}, {"cpus", cpus}, {"memory", mem_per_node}});
  }
  return info;
}

SchedulerNode node(const std::string &name, const std::string &pool = "mock") {
  SchedulerNode n;
  n.name = name;
  n.labels = share_labels({{"hal.dev/pool", pool}, {"kubernetes.io/hostname", name}});
  n.ready = true;
  n.backend = pool;
  n.capabilities = share_json(caps(true, true, false));
  n.host_info = share_json(host(2, 4, 16 * kGi));
  n.allocatable_cpus = 8;
  n.allocatable_memory = 32 * kGi;
  return n;
}

SchedulingRequest request(uint32_t vcpus, uint64_t memory) {
  SchedulingRequest r;
  r.resources.vcpus = vcpus;
  r.resources.memory_bytes = memory;
  return r;
}

std::string reason_for(const SchedulingDecision &d, const std::string &name) {
  for (const auto &r : d.rejections) {
    if (r.node == name) return r.reason;
  }
  return "";
}

TEST(Scheduler, FiltersNotReadyCordonedAndSelector) {
  auto a = node("a");
  a.ready = false;
  auto b = node("b");
  b.unschedulable = true;
  auto c = node("c", "qemu");
  auto d = node("d");
  auto req = request(1, kGi);
  req.node_selector = json{{"hal.dev/pool", "mock"}};
  auto decision = schedule(req, {a, b, c, d});
  ASSERT_TRUE(decision.node.has_value());
  EXPECT_EQ(*decision.node, "d");
  EXPECT_NE(reason_for(decision, "a").find("not Ready"), std::string::npos);
  EXPECT_NE(reason_for(decision, "b").find("unschedulable"), std::string::npos);
  EXPECT_NE(reason_for(decision, "c").find("hal.dev/pool=mock"), std::string::npos);
}

TEST(Scheduler, InsufficientResourcesNamesTheResource) {
  auto a = node("a");
  a.allocated_cpu_millis = 7900;  // 8 CPUs: 100m free, a shared 2-vCPU VM asks 200m
  auto b = node("b");
  b.allocated_memory = 31 * kGi;
  auto decision = schedule(request(2, 2 * kGi), {a, b});
  EXPECT_FALSE(decision.node.has_value());
  EXPECT_NE(reason_for(decision, "a").find("insufficient cpu"), std::string::npos);
  EXPECT_NE(reason_for(decision, "b").find("insufficient memory"), std::string::npos);
  EXPECT_NE(decision.message(2).find("0/2 nodes are available: a: insufficient cpu"),
            std::string::npos)
      << decision.message(2);
}

TEST(Scheduler, SharedVcpusRequestATenthOfACpuDedicatedOnesAWholeOne) {
  EXPECT_EQ(cpu_request_millis(1, false), 100u);
  EXPECT_EQ(cpu_request_millis(3, false), 300u);
  EXPECT_EQ(cpu_request_millis(3, true), 3000u);
  auto a = node("a");  // 8 CPUs
  a.allocated_cpu_millis = 7000;
  auto shared = request(4, kGi);  // 400m: fits in the 1000m left
  EXPECT_TRUE(schedule(shared, {a}).node.has_value());
  auto dedicated = request(2, kGi);  // 2000m: does not
  dedicated.resources.dedicated_cpus = true;
  auto decision = schedule(dedicated, {a});
  EXPECT_FALSE(decision.node.has_value());
  EXPECT_EQ(reason_for(decision, "a"), "insufficient cpu (requested 2000m, free 1000m of 8000m)");
}

TEST(Scheduler, BackendCapabilities) {
  auto plain = node("plain");
  plain.capabilities = share_json(caps(false, false, false));
  auto tdx = node("tdx");
  tdx.capabilities = share_json(caps(true, true, true));
  tdx.host_info = share_json(host(2, 4, 16 * kGi, true));
  auto tdx_caps_no_host = node("tdx-nohost");
  tdx_caps_no_host.capabilities = share_json(caps(true, true, true));

  auto req = request(1, kGi);
  req.resources.needs_tdx = true;
  auto decision = schedule(req, {plain, tdx, tdx_caps_no_host});
  ASSERT_TRUE(decision.node);
  EXPECT_EQ(*decision.node, "tdx");
  EXPECT_NE(reason_for(decision, "plain").find("lacks TDX"), std::string::npos);
  EXPECT_NE(reason_for(decision, "tdx-nohost").find("no TDX module"), std::string::npos);

  auto numa = request(1, kGi);
  numa.resources.needs_numa = true;
  decision = schedule(numa, {plain});
  EXPECT_FALSE(decision.node);
  EXPECT_NE(reason_for(decision, "plain").find("NUMA"), std::string::npos);

  auto migration = request(1, kGi);
  migration.migration = true;
  decision = schedule(migration, {plain});
  EXPECT_FALSE(decision.node);
  EXPECT_NE(reason_for(decision, "plain").find("live migration"), std::string::npos);
}

TEST(Scheduler, NumaFit) {
  auto small = node("small");
  small.host_info = share_json(host(2, 2, 4 * kGi));
  auto big = node("big");
  big.host_info = share_json(host(2, 4, 16 * kGi));
  auto req = request(8, 16 * kGi);
  req.guest_numa = {{4, 8 * kGi}, {4, 8 * kGi}};
  auto decision = schedule(req, {small, big});
  ASSERT_TRUE(decision.node);
  EXPECT_EQ(*decision.node, "big");
  EXPECT_NE(reason_for(decision, "small").find("NUMA"), std::string::npos);
  // Three guest nodes on two host nodes never fit.
  EXPECT_FALSE(numa_fits({{1, kGi}, {1, kGi}, {1, kGi}}, host(2, 4, 16 * kGi)));
  EXPECT_TRUE(numa_fits({}, json()));
}

TEST(Scheduler, GuestNumaNodesFromHalSpec) {
  json spec{{"numa",
             {{"nodes",
               {{{"id", 0}, {"vcpus", {0, 1}}, {"memory", "1Gi"}},
                {{"id", 1}, {"vcpus", {2, 3}}, {"memory", 1073741824}}}}}}};
  auto nodes = guest_numa_nodes(spec);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].vcpus, 2u);
  EXPECT_EQ(nodes[0].memory, kGi);
  EXPECT_EQ(nodes[1].memory, kGi);
  EXPECT_TRUE(guest_numa_nodes(json::object()).empty());
}

TEST(Scheduler, ScoresLeastAllocatedThenSpread) {
  auto busy = node("busy");
  busy.allocated_cpu_millis = 6000;
  busy.allocated_memory = 20 * kGi;
  auto idle = node("idle");
  auto decision = schedule(request(1, kGi), {busy, idle});
  ASSERT_TRUE(decision.node);
  EXPECT_EQ(*decision.node, "idle");
  // Equal allocation: fewer VMs wins.
  auto x = node("x");
  x.vm_count = 3;
  auto y = node("y");
  y.vm_count = 1;
  decision = schedule(request(0, 0), {x, y});
  ASSERT_TRUE(decision.node);
  EXPECT_EQ(*decision.node, "y");
}

TEST(Scheduler, ExcludeAndRequiredNode) {
  auto a = node("a");
  auto b = node("b");
  auto req = request(1, kGi);
  req.exclude = {"a"};
  auto decision = schedule(req, {a, b});
  ASSERT_TRUE(decision.node);
  EXPECT_EQ(*decision.node, "b");
  req.exclude.clear();
  req.required_node = "a";
  b.allocated_cpu_millis = 0;
  decision = schedule(req, {a, b});
  ASSERT_TRUE(decision.node);
  EXPECT_EQ(*decision.node, "a");
  EXPECT_EQ(schedule(request(1, kGi), {}).message(0),
            "0/0 nodes are available: no nodes are registered");
}

}  // namespace
}  // namespace hal::controller
