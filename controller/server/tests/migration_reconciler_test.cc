// migration_reconciler_test.cc - the migration reconciler driven one pass at a time against mock
// node agents: a VMI moved to the other node (target reserved while it runs, source VM deleted at
// the end), the outbound limit queueing a second migration, a deleted running migration
// cancelled with the source kept, a non-migratable VMI refused, a source node without a free
// call slot leaving everything as it was, and a migration whose source or target agent is killed
// or restarted ended within seconds (not at the progress timeout) with the losing copy deleted.
#include "controller/server/migration_reconciler.h"

#include <gtest/gtest.h>

#include "controller/server/instance_reconciler.h"
#include "controller/server/object_util.h"
#include "controller/server/tests/reconciler_harness.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using testing::reconcile_until;
using testing::ReconcilerHarness;
using testing::vmi_manifest;

std::string vmim_manifest(const std::string &name, const std::string &vmi) {
  return "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\nmetadata:\n  name: " +
         name + "\nspec:\n  vmiName: " + vmi + "\n";
}

ControllerOptions one_outbound() {
  ControllerOptions options = testing::fast_options();
  options.migration.parallel_outbound_per_node = 1;
  return options;
}

class MigrationReconcilerTest : public ::testing::Test {
 protected:
  explicit MigrationReconcilerTest(ControllerOptions options = one_outbound())
      : harness_(options) {}
  std::string at(const std::string &kind, const std::string &name, const char *pointer) {
    return str_at(harness_.get(kind, name), json::json_pointer(pointer));
  }
  // Starts VMI `name` (on the only node up) and waits until it runs.
  void run_vmi(const std::string &name,
               const std::string &extra = "  evictionStrategy: LiveMigrate\n") {
    harness_.apply(vmi_manifest(name, extra));
    ASSERT_TRUE(reconcile_until([&] { return instances_.reconcile("default", name); },
                                [&] { return at(kVmiKind, name, "/status/phase") == "Running"; }));
  }
  WorkResult pass(const std::string &name) { return migrations_.reconcile("default", name); }
  bool until_phase(const std::string &name, const std::string &phase) {
    return reconcile_until([&] { return pass(name); },
                           [&] { return at(kVmimKind, name, "/status/phase") == phase; });
  }

  ReconcilerHarness harness_;
  InstanceReconciler instances_{harness_.shared()};
  MigrationReconciler migrations_{harness_.shared()};
};

TEST_F(MigrationReconcilerTest, MovesTheVmiAndDeletesTheSourceVm) {
  harness_.start_node("node-a", json{{"migration", {{"bandwidthMiBps", 256}}}});
  run_vmi("a");
  harness_.start_node("node-b");
  harness_.apply(vmim_manifest("m", "a"));
  const StoreKey vmim{kVmimKind, "default", "m"};
  pass("m");
  EXPECT_EQ(at(kVmimKind, "m", "/status/phase"), "Running");
  EXPECT_EQ(at(kVmimKind, "m", "/status/migrationState/targetNode"), "node-b");
  EXPECT_EQ(harness_.shared().placements.migrations_with_target("node-b"),
            std::vector<StoreKey>{vmim});
  EXPECT_EQ(harness_.shared().placements.migration_of("default-a"), vmim);

  ASSERT_TRUE(until_phase("m", "Succeeded")) << harness_.get(kVmimKind, "m").dump(2);
  EXPECT_EQ(at(kVmiKind, "a", "/status/nodeName"), "node-b");
  EXPECT_EQ(harness_.node_state("node-b", "default-a"), "Running");
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "");
  EXPECT_TRUE(harness_.shared().placements.migrations_with_target().empty());
  EXPECT_FALSE(harness_.shared().placements.migration_of("default-a"));
  EXPECT_EQ(harness_.shared().placements.vmis_on("node-b"),
            (std::vector<StoreKey>{StoreKey{kVmiKind, "default", "a"}}));
}

TEST_F(MigrationReconcilerTest, TheOutboundLimitQueuesASecondMigration) {
  harness_.start_node("node-a", json{{"faults", {{"migration", "stall"}}}});
  run_vmi("a");
  run_vmi("b");
  harness_.start_node("node-b");
  harness_.apply(vmim_manifest("ma", "a"));
  harness_.apply(vmim_manifest("mb", "b"));
  pass("ma");
  ASSERT_EQ(at(kVmimKind, "ma", "/status/phase"), "Running");
  WorkResult second = pass("mb");
  EXPECT_EQ(at(kVmimKind, "mb", "/status/phase"), "Pending");
  const json mb = harness_.get(kVmimKind, "mb");
  const json *queued = find_condition(conditions_of(mb), "Queued");
  ASSERT_NE(queued, nullptr);
  EXPECT_NE((*queued)["message"].get<std::string>().find("parallelOutboundMigrationsPerNode"),
            std::string::npos);
  EXPECT_TRUE(second.requeue.has_value());
  EXPECT_EQ(harness_.shared().placements.active_migrations("node-a"), 1u);
}

TEST_F(MigrationReconcilerTest, DeletingARunningMigrationCancelsItAndKeepsTheSource) {
  harness_.start_node("node-a", json{{"faults", {{"migration", "stall"}}}});
  run_vmi("a");
  harness_.start_node("node-b");
  harness_.apply(vmim_manifest("m", "a"));
  pass("m");
  ASSERT_EQ(at(kVmimKind, "m", "/status/phase"), "Running");
  auto stored = harness_.store().get(StoreKey{kVmimKind, "default", "m"});
  json object = stored->object;
  object["metadata"]["deletionTimestamp"] = now_rfc3339();
  harness_.store().update(stored->key, object, stored->version);
  pass("m");
  EXPECT_TRUE(harness_.get(kVmimKind, "m").is_null());
  EXPECT_EQ(at(kVmiKind, "a", "/status/nodeName"), "node-a");
  EXPECT_EQ(harness_.get(kVmiKind, "a")["status"]["migrationState"]["failed"], true);
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Running");
  EXPECT_EQ(harness_.node_state("node-b", "default-a"), "");
  EXPECT_TRUE(harness_.shared().placements.migrations_with_target().empty());
}

TEST_F(MigrationReconcilerTest, ANonMigratableVmiIsRefusedWithItsReason) {
  harness_.start_node("node-a");
  run_vmi("pinned", "  evictionStrategy: None\n");
  harness_.start_node("node-b");
  harness_.apply(vmim_manifest("m", "pinned"));
  pass("m");
  EXPECT_EQ(at(kVmimKind, "m", "/status/phase"), "Failed");
  const json vmim = harness_.get(kVmimKind, "m");
  const json *failed = find_condition(conditions_of(vmim), "Failed");
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ((*failed)["reason"], "NotMigratable");
  EXPECT_EQ(harness_.node_state("node-b", "default-pinned"), "");
}

TEST_F(MigrationReconcilerTest, ASourceWithoutAFreeCallSlotChangesNothing) {
  harness_.start_node("node-a");
  run_vmi("a");
  harness_.start_node("node-b");
  harness_.apply(vmim_manifest("m", "a"));
  auto first = harness_.slots().try_claim("node-a", "other/1");
  auto second = harness_.slots().try_claim("node-a", "other/2");
  ASSERT_TRUE(first && second);
  WorkResult result = pass("m");
  EXPECT_EQ(result.requeue, kSlotRecheck);
  EXPECT_NE(at(kVmimKind, "m", "/status/phase"), "Running");
  EXPECT_TRUE(harness_.shared().placements.migrations_with_target().empty());
  EXPECT_EQ(harness_.node_state("node-b", "default-a"), "");
  first.reset();
  second.reset();
  ASSERT_TRUE(until_phase("m", "Succeeded")) << harness_.get(kVmimKind, "m").dump(2);
}

// Heartbeats missed for a minute before a node is NotReady: only the agents' connections (and
// boot ids) can end a migration early.
class MigrationAgentLossTest : public MigrationReconcilerTest {
 protected:
  MigrationAgentLossTest() : MigrationReconcilerTest(long_grace()) {}
  static ControllerOptions long_grace() {
    ControllerOptions options = one_outbound();
    options.nodes.grace_period = std::chrono::minutes(1);
    return options;
  }
  // A stalled migration of VMI "a" from node-a to node-b, running; returns node-a's agent.
  node::NodeAgent *start_stalled() {
    node::NodeAgent &a = harness_.start_node("node-a", json{{"faults", {{"migration", "stall"}}}});
    run_vmi("a");
    harness_.start_node("node-b");
    harness_.apply(vmim_manifest("m", "a"));
    pass("m");
    if (at(kVmimKind, "m", "/status/phase") != "Running") return nullptr;
    return &a;
  }
  // The migration's Failed condition message.
  std::string failure() {
    const json vmim = harness_.get(kVmimKind, "m");
    const json *failed = find_condition(conditions_of(vmim), "Failed");
    return failed == nullptr ? "" : (*failed)["message"].get<std::string>();
  }
};

TEST_F(MigrationAgentLossTest, AKilledSourceAgentEndsItWithinSecondsAndTheTargetCopyGoes) {
  node::NodeAgent *source = start_stalled();
  ASSERT_NE(source, nullptr) << harness_.get(kVmimKind, "m").dump(2);
  ASSERT_NE(harness_.node_state("node-b", "default-a"), "");  // the incoming copy
  const auto killed = std::chrono::steady_clock::now();
  source->stop();
  ASSERT_TRUE(until_phase("m", "Failed")) << harness_.get(kVmimKind, "m").dump(2);
  const auto took = std::chrono::steady_clock::now() - killed;
  EXPECT_LT(took, std::chrono::seconds(6));
  std::printf("source agent killed: migration Failed after %.1f s\n",
              std::chrono::duration<double>(took).count());
  EXPECT_NE(failure().find("the agent of source node node-a has been unreachable for"),
            std::string::npos)
      << failure();
  EXPECT_EQ(harness_.node_state("node-b", "default-a"), "");  // no copy left on the target
  EXPECT_EQ(at(kVmiKind, "a", "/status/nodeName"), "node-a");
  EXPECT_TRUE(harness_.shared().placements.migrations_with_target().empty());
}

TEST_F(MigrationAgentLossTest, AKilledTargetAgentEndsItWithinSecondsAndTheSourceKeepsRunning) {
  harness_.start_node("node-a", json{{"faults", {{"migration", "stall"}}}});
  run_vmi("a");
  node::NodeAgent &target = harness_.start_node("node-b");
  harness_.apply(vmim_manifest("m", "a"));
  pass("m");
  ASSERT_EQ(at(kVmimKind, "m", "/status/phase"), "Running");
  const auto killed = std::chrono::steady_clock::now();
  target.stop();
  ASSERT_TRUE(until_phase("m", "Failed")) << harness_.get(kVmimKind, "m").dump(2);
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(6));
  // The source's own transfer may fail first (connection reset), else the target's lost agent.
  EXPECT_FALSE(failure().empty());
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Running");
  EXPECT_EQ(at(kVmiKind, "a", "/status/nodeName"), "node-a");
}

TEST_F(MigrationAgentLossTest, ARestartedSourceAgentEndsItAtOnce) {
  node::NodeAgent *source = start_stalled();
  ASSERT_NE(source, nullptr);
  source->stop();
  harness_.start_node("node-a", json{{"faults", {{"migration", "stall"}}}});  // a new boot id
  ASSERT_TRUE(until_phase("m", "Failed")) << harness_.get(kVmimKind, "m").dump(2);
  EXPECT_NE(failure().find("the agent of source node node-a restarted"), std::string::npos)
      << failure();
  EXPECT_EQ(harness_.node_state("node-b", "default-a"), "");
}

}  // namespace
}  // namespace hal::controller
