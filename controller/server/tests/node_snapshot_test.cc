// node_snapshot_test.cc - Node objects: written from a snapshot (kept metadata and allocation,
// the Ready condition), read back as a waiting node, and read from incomplete objects.
#include "controller/server/node_snapshot.h"

#include <gtest/gtest.h>

#include "controller/server/object_util.h"

namespace hal::controller {
namespace {

using nlohmann::json;

TEST(NodeSnapshot, AWrittenObjectReadsBackAsAWaitingNode) {
  NodeSnapshot info;
  info.name = "n1";
  info.pool = "qemu";
  info.address = "10.0.0.1:7001";
  info.readiness = NodeReadiness::kReady;
  info.unschedulable = true;
  info.labels = {{"hal.dev/pool", "qemu"}};
  info.backends = {"kvm-qemu"};
  info.capabilities = {{"kvm-qemu", {{"features", {{"liveMigration", true}}}}}};
  info.host_info = share_json(json{{"numaNodes", json::array()}});
  info.allocatable_cpus = 2;
  info.allocatable_memory = 1 << 30;
  const json existing{{"metadata", {{"uid", "u-1"}}}, {"status", {{"allocated", {{"vms", 3}}}}}};
  json object = node_object(info, 42, std::chrono::milliseconds(10000), existing);
  EXPECT_EQ(object["metadata"]["uid"], "u-1");
  EXPECT_EQ(object["status"]["allocated"]["vms"], 3);
  EXPECT_EQ(object["status"]["bootId"], 42);
  const json *ready = find_condition(conditions_of(object), "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["status"], "True");

  NodeSnapshot back = snapshot_of("n1", object);
  EXPECT_EQ(back.readiness, NodeReadiness::kWaiting);
  EXPECT_EQ(back.pool, "qemu");
  EXPECT_EQ(back.address, info.address);
  EXPECT_TRUE(back.unschedulable);
  EXPECT_EQ(back.labels, info.labels);
  EXPECT_EQ(back.backends, info.backends);
  EXPECT_EQ(back.capabilities, info.capabilities);
  EXPECT_EQ(*back.host_info, *info.host_info);
  EXPECT_EQ(back.allocatable_cpus, 2u);
  EXPECT_EQ(back.allocatable_memory, uint64_t{1} << 30);
}

TEST(NodeSnapshot, ANotReadyNodeSaysWhyWithItsGracePeriod) {
  NodeSnapshot info;
  info.name = "n1";
  info.readiness = NodeReadiness::kNotReady;
  json object = node_object(info, 1, std::chrono::milliseconds(2500), json());
  EXPECT_FALSE(object["metadata"]["uid"].get<std::string>().empty());
  const json *ready = find_condition(conditions_of(object), "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["status"], "False");
  EXPECT_NE((*ready)["message"].get<std::string>().find("2500 ms"), std::string::npos);
}

TEST(NodeSnapshot, AnIncompleteObjectReadsAsAnEmptyNode) {
  for (const json &object : {json(), json::object(), json{{"status", "text"}, {"spec", 3}}}) {
    NodeSnapshot info = snapshot_of("n", object);
    EXPECT_EQ(info.name, "n");
    EXPECT_TRUE(info.backends.empty());
    EXPECT_FALSE(info.unschedulable);
    EXPECT_EQ(info.readiness, NodeReadiness::kWaiting);
  }
}

}  // namespace
}  // namespace hal::controller
