// orphan_vms_test.cc - the orphan VM reconciler driven one pass at a time against mock node
// agents: a VM made by a direct CreateVm call is reported (Warning event, the Node's OrphanVMs
// condition naming it) and left running by default, or deleted once its grace period has passed
// when one is set; a stale copy of a VMI that runs elsewhere is deleted on the node's
// registration; the VMs the controller placed are never touched.
#include "controller/server/orphan_vms.h"

#include <gtest/gtest.h>

#include "controller/server/events.h"
#include "controller/server/instance_reconciler.h"
#include "controller/server/object_util.h"
#include "controller/server/tests/reconciler_harness.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using testing::reconcile_until;
using testing::ReconcilerHarness;
using testing::vmi_manifest;

ControllerOptions with_grace(std::optional<std::chrono::milliseconds> grace) {
  ControllerOptions options = testing::fast_options();
  options.orphan_vm_grace = grace;
  return options;
}

class OrphanVmsTest : public ::testing::Test {
 protected:
  explicit OrphanVmsTest(std::optional<std::chrono::milliseconds> grace = std::nullopt)
      : harness_(with_grace(grace)) {}

  // Runs VMI `name` on the only node up.
  void run_vmi(const std::string &name) {
    harness_.apply(vmi_manifest(name));
    ASSERT_TRUE(reconcile_until([&] { return instances_.reconcile("default", name); },
                                [&] {
                                  return str_at(harness_.get(kVmiKind, name),
                                                json::json_pointer("/status/phase")) == "Running";
                                }));
  }
  // Creates VM `vm_id` on `agent` by a direct NodeAgent call and waits until the registry sees it.
  void create_directly(node::NodeAgent &agent, const std::string &node, const std::string &vm_id) {
    // The registry's event stream is open before the VM is made (events before it are missed).
    ASSERT_TRUE(node::testing::wait_until([&] { return agent.event_watchers() > 0; }));
    auto stub = node::testing::node_stub(agent.address());
    v1::CreateVmRequest create;
    create.set_backend("mock");
    create.set_spec_json(node::testing::mock_spec(vm_id).dump());
    create.set_start(true);
    v1::VmStatus created;
    grpc::Status status = stub->CreateVm(node::testing::deadline_context().get(), create, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(node::testing::wait_until(
        [&] { return !harness_.shared().registry.observed(node, vm_id).value_or("").empty(); }));
  }
  const json *condition(const std::string &node) {
    node_object_ = harness_.store().get(StoreKey{kNodeKind, "", node})->object;
    return find_condition(conditions_of(node_object_), "OrphanVMs");
  }
  std::string event_message(const std::string &node, const std::string &reason) {
    for (const auto &event : events_for(harness_.store(), StoreKey{kNodeKind, "", node})) {
      if (event.object.value("reason", "") == reason) return event.object.value("message", "");
    }
    return "";
  }

  ReconcilerHarness harness_;
  InstanceReconciler instances_{harness_.shared()};
  OrphanVmReconciler orphans_{harness_.shared()};
  json node_object_;
};

TEST_F(OrphanVmsTest, AVmNoObjectOwnsIsReportedOnItsNodeAndLeftRunning) {
  node::NodeAgent &agent = harness_.start_node("node-a");
  run_vmi("kept");
  create_directly(agent, "node-a", "stray");
  EXPECT_EQ(orphans_.reconcile("node-a").kind, WorkResult::Kind::kDone);
  const json *reported = condition("node-a");
  ASSERT_NE(reported, nullptr) << node_object_.dump(2);
  EXPECT_EQ((*reported)["status"], "True");
  EXPECT_NE((*reported)["message"].get<std::string>().find(": stray (left running"),
            std::string::npos)
      << *reported;
  EXPECT_NE(event_message("node-a", "OrphanVMs").find("no VirtualMachineInstance owns"),
            std::string::npos);
  EXPECT_EQ(harness_.node_state("node-a", "stray"), "Running");
  EXPECT_EQ(harness_.node_state("node-a", "default-kept"), "Running");
  // Reported once: a second pass writes nothing.
  const int64_t revision = harness_.store().revision();
  orphans_.reconcile("node-a");
  EXPECT_EQ(harness_.store().revision(), revision);
  // Gone (deleted by hand): the condition goes too.
  v1::DeleteVmRequest request;
  request.set_vm_id("stray");
  v1::DeleteVmResponse response;
  ASSERT_TRUE(node::testing::node_stub(agent.address())
                  ->DeleteVm(node::testing::deadline_context().get(), request, &response)
                  .ok());
  ASSERT_TRUE(node::testing::wait_until(
      [&] { return harness_.shared().registry.observed("node-a", "stray") == ""; }));
  orphans_.reconcile("node-a");
  EXPECT_EQ(condition("node-a"), nullptr);
}

class OrphanVmsWithGraceTest : public OrphanVmsTest {
 protected:
  OrphanVmsWithGraceTest() : OrphanVmsTest(300ms) {}
};

TEST_F(OrphanVmsWithGraceTest, AnOrphanIsDeletedWhenItsGracePeriodEnds) {
  node::NodeAgent &agent = harness_.start_node("node-a");
  run_vmi("kept");
  create_directly(agent, "node-a", "stray");
  const auto found = std::chrono::steady_clock::now();
  WorkResult first = orphans_.reconcile("node-a");
  ASSERT_TRUE(first.requeue.has_value());  // back when the grace period ends
  EXPECT_LE(*first.requeue, 300ms);
  EXPECT_EQ(harness_.node_state("node-a", "stray"), "Running");
  ASSERT_NE(condition("node-a"), nullptr);
  EXPECT_TRUE(reconcile_until([&] { return orphans_.reconcile("node-a"); },
                              [&] { return harness_.node_state("node-a", "stray").empty(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - found, 300ms);
  EXPECT_EQ(condition("node-a"), nullptr);
  EXPECT_NE(event_message("node-a", "OrphanVMsDeleted").find("stray"), std::string::npos);
  EXPECT_EQ(harness_.node_state("node-a", "default-kept"), "Running");
}

TEST_F(OrphanVmsTest, AStaleCopyOfAVmiRunningElsewhereGoesOnRegistration) {
  harness_.start_node("node-a");
  run_vmi("moved");
  node::NodeAgent &b = harness_.start_node("node-b");
  create_directly(b, "node-b", "default-moved");  // as if node-b ran it before a failover
  orphans_.reconcile("node-b");                   // not a registration pass: left alone
  EXPECT_EQ(harness_.node_state("node-b", "default-moved"), "Running");
  EXPECT_EQ(condition("node-b"), nullptr);  // HAL's own VM, not an orphan
  orphans_.node_registered("node-b");
  orphans_.reconcile("node-b");
  EXPECT_EQ(harness_.node_state("node-b", "default-moved"), "");
  EXPECT_EQ(harness_.node_state("node-a", "default-moved"), "Running");
}

}  // namespace
}  // namespace hal::controller
