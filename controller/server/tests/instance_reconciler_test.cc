// instance_reconciler_test.cc - the instance reconciler driven one pass at a time against mock
// node agents: a VMI scheduled, started and placed; no room → Pending, waiting for room, queued
// again when room frees; a node with no free call slot → the VMI stays unplaced and its key waits;
// deletion with and without a grace period.
#include "controller/server/instance_reconciler.h"

#include <gtest/gtest.h>

#include "controller/server/object_util.h"
#include "controller/server/tests/reconciler_harness.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using testing::reconcile_until;
using testing::ReconcilerHarness;
using testing::vmi_manifest;

class InstanceReconcilerTest : public ::testing::Test {
 protected:
  std::string phase(const std::string &name) {
    return str_at(harness_.get(kVmiKind, name), json::json_pointer("/status/phase"));
  }
  WorkResult pass(const std::string &name) { return reconciler_.reconcile("default", name); }
  bool run(const std::string &name) {
    return reconcile_until([&] { return pass(name); }, [&] { return phase(name) == "Running"; });
  }
  void mark_deleted(const std::string &name) {
    auto stored = harness_.store().get(StoreKey{kVmiKind, "default", name});
    json object = stored->object;
    object["metadata"]["deletionTimestamp"] = now_rfc3339();
    harness_.store().update(stored->key, object, stored->version);
  }

  ReconcilerHarness harness_;
  InstanceReconciler reconciler_{harness_.shared()};
};

TEST_F(InstanceReconcilerTest, AVmiIsScheduledStartedAndPlaced) {
  harness_.start_node("node-a");
  harness_.apply(vmi_manifest("a"));
  pass("a");
  json vmi = harness_.get(kVmiKind, "a");
  EXPECT_EQ(str_at(vmi, json::json_pointer("/status/nodeName")), "node-a");
  EXPECT_TRUE(phase("a") == "Running" || phase("a") == "Scheduled") << vmi.dump(2);
  ASSERT_TRUE(run("a"));
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Running");
  const StoreKey key{kVmiKind, "default", "a"};
  EXPECT_EQ(harness_.shared().placements.vmis_on("node-a"), std::vector<StoreKey>{key});
  EXPECT_EQ(harness_.shared().placements.vmi_for_vm_id("default-a"), key);
  const json stored = harness_.get(kVmiKind, "a");
  const json *ready = find_condition(conditions_of(stored), "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["status"], "True");
}

TEST_F(InstanceReconcilerTest, NoRoomLeavesItPendingUntilAPlacementIsReleased) {
  harness_.start_node("node-a");
  harness_.apply(vmi_manifest("far", "", "nowhere"));
  WorkResult result = pass("far");
  EXPECT_EQ(result.kind, WorkResult::Kind::kRetry);
  EXPECT_EQ(phase("far"), "Pending");
  const json far = harness_.get(kVmiKind, "far");
  const json *scheduled = find_condition(conditions_of(far), "PodScheduled");
  ASSERT_NE(scheduled, nullptr);
  EXPECT_EQ((*scheduled)["reason"], "Unschedulable");
  EXPECT_TRUE(harness_.shared().placements.vmis_on("node-a").empty());

  // Room freed anywhere queues the waiting VMI again.
  harness_.shared().placements.place(StoreKey{kVmiKind, "default", "other"},
                                     Placement{"node-a", 1, 1, {}});
  harness_.clear_queued();
  harness_.shared().unplace(StoreKey{kVmiKind, "default", "other"});
  EXPECT_TRUE(
      testing::reconcile_until([] { return WorkResult::after(std::chrono::milliseconds(10)); },
                               [&] { return harness_.queued("inst/default/far"); }));
}

TEST_F(InstanceReconcilerTest, ANodeWithoutAFreeCallSlotLeavesTheVmiUnplacedAndWaiting) {
  harness_.start_node("node-a");
  harness_.apply(vmi_manifest("a"));
  auto first = harness_.slots().try_claim("node-a", "other/1");
  auto second = harness_.slots().try_claim("node-a", "other/2");
  ASSERT_TRUE(first && second);
  WorkResult result = pass("a");
  EXPECT_EQ(result.requeue, kSlotRecheck);
  EXPECT_TRUE(harness_.shared().placements.vmis_on("node-a").empty());
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "");
  EXPECT_EQ(harness_.slots().waiting("node-a"), 1u);
  harness_.clear_queued();
  first.reset();  // a freed slot queues the waiting key
  EXPECT_TRUE(reconcile_until([] { return WorkResult::after(std::chrono::milliseconds(10)); },
                              [&] { return harness_.queued("inst/default/a"); }));
  ASSERT_TRUE(run("a"));
}

TEST_F(InstanceReconcilerTest, DeletionWithoutGraceDeletesTheVmAtOnce) {
  harness_.start_node("node-a");
  harness_.apply(vmi_manifest("a", "  terminationGracePeriodSeconds: 0\n"));
  ASSERT_TRUE(run("a"));
  mark_deleted("a");
  pass("a");
  EXPECT_TRUE(harness_.get(kVmiKind, "a").is_null());
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "");
  EXPECT_TRUE(harness_.shared().placements.vmis_on("node-a").empty());
}

TEST_F(InstanceReconcilerTest, DeletionWithGraceStopsTheGuestFirstWithoutWaitingInThePass) {
  harness_.start_node("node-a");
  harness_.apply(vmi_manifest("a", "  terminationGracePeriodSeconds: 20\n"));
  ASSERT_TRUE(run("a"));
  mark_deleted("a");
  WorkResult first = pass("a");
  // The stop was sent; the pass asks to come back instead of waiting for the guest.
  ASSERT_TRUE(first.requeue.has_value());
  EXPECT_FALSE(harness_.get(kVmiKind, "a").is_null());
  EXPECT_TRUE(reconcile_until([&] { return pass("a"); },
                              [&] { return harness_.get(kVmiKind, "a").is_null(); }));
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "");
}

}  // namespace
}  // namespace hal::controller
