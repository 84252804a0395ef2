// placement_model_test.cc - the placement model on its own: per-node totals as VMIs and migration
// targets come and go, the VMIs waiting for room handed back when room frees, outbound migration
// counts, dedicated host CPUs in use, the rebuild from stored VMIs and VMIMs, and which nodes
// may report on a VM (node restriction).
#include "controller/server/placement_model.h"

#include <gtest/gtest.h>

#include "controller/server/object_util.h"

namespace hal::controller {
namespace {

using nlohmann::json;

const StoreKey kVmiA{kVmiKind, "default", "a"};
const StoreKey kVmiB{kVmiKind, "default", "b"};
const StoreKey kVmimA{kVmimKind, "default", "a-migration"};

SchedulerNode allocation(const PlacementModel &model, const std::string &node) {
  SchedulerNode view;
  view.name = node;
  model.fill_allocation(view);
  return view;
}

TEST(PlacementModel, TotalsFollowPlacementsAndTargets) {
  PlacementModel model;
  model.place(kVmiA, Placement{"n1", 2, 1024, {}});
  model.place(kVmiB, Placement{"n1", 1, 512, {4}});
  SchedulerNode n1 = allocation(model, "n1");
  EXPECT_EQ(n1.vm_count, 2u);
  EXPECT_EQ(n1.allocated_memory, 1536u);
  EXPECT_EQ(n1.allocated_cpu_millis, cpu_request_millis(2, false) + cpu_request_millis(1, true));

  // A migration target holds room on its node until released.
  model.place_target(kVmimA, Placement{"n2", 2, 1024, {}}, "n1");
  EXPECT_EQ(allocation(model, "n2").vm_count, 1u);
  EXPECT_EQ(model.active_migrations(), 1u);
  EXPECT_EQ(model.active_migrations("n1"), 1u);
  EXPECT_EQ(model.active_migrations("n2"), 0u);
  EXPECT_EQ(model.migrations_with_target("n2"), std::vector<StoreKey>{kVmimA});
  EXPECT_TRUE(model.migrations_with_target("n1").empty());
  model.unplace_target(kVmimA);
  EXPECT_EQ(allocation(model, "n2").vm_count, 0u);
  EXPECT_EQ(model.active_migrations(), 0u);

  // Moving a VMI moves its totals.
  model.place(kVmiA, Placement{"n2", 2, 1024, {}});
  EXPECT_EQ(allocation(model, "n1").allocated_memory, 512u);
  EXPECT_EQ(allocation(model, "n2").allocated_memory, 1024u);
  EXPECT_EQ(model.vmis_on("n2"), std::vector<StoreKey>{kVmiA});
}

TEST(PlacementModel, OnlyTheNodesAVmIsAssignedToMayReportOnIt) {
  PlacementModel model;
  // Unknown or unplaced VMs belong to no node yet: any node may report them.
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n1"), "");
  model.index_vm_id("default-a", kVmiA);
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n1"), "");
  model.place(kVmiA, Placement{"n1", 1, 512, {}});
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n1"), "");
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n2"), "n1");
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n3"), "n1");
  // A migration from n1 to n2: both take part, n3 still not.
  model.place_target(kVmimA, Placement{"n2", 1, 512, {}}, "n1");
  model.set_migrating("default-a", kVmimA);
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n1"), "");
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n2"), "");
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n3"), "n1");
  // Completed: the VMI lives on n2, and n1's leftover is not news of it.
  model.place(kVmiA, Placement{"n2", 1, 512, {}});
  model.unplace_target(kVmimA);
  model.clear_migrating("default-a");
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n1"), "n2");
  EXPECT_EQ(model.assigned_elsewhere("default-a", "n2"), "");
}

TEST(PlacementModel, UnplaceHandsBackTheVmisWaitingForRoom) {
  PlacementModel model;
  EXPECT_FALSE(model.unplace(kVmiA));  // nothing placed
  model.place(kVmiA, Placement{"n1", 1, 512, {}});
  model.wait_for_room(kVmiB);
  auto freed = model.unplace(kVmiA);
  ASSERT_TRUE(freed);
  EXPECT_EQ(freed->node, "n1");
  EXPECT_EQ(freed->waiting, std::set<StoreKey>{kVmiB});
  EXPECT_EQ(allocation(model, "n1").vm_count, 0u);
  // Placed VMIs no longer wait.
  model.place(kVmiB, Placement{"n1", 1, 512, {}});
  model.place(kVmiA, Placement{"n1", 1, 512, {}});
  EXPECT_TRUE(model.unplace(kVmiA)->waiting.empty());
}

TEST(PlacementModel, HostCpusInUseCountPlacementsAndTargetsOfTheNodeOnly) {
  PlacementModel model;
  model.place(kVmiA, Placement{"n1", 2, 512, {0, 1}});
  model.place(kVmiB, Placement{"n2", 1, 512, {2}});
  model.place_target(kVmimA, Placement{"n1", 1, 512, {3}}, "n2");
  EXPECT_EQ(model.host_cpus_in_use("n1"), (std::set<uint32_t>{0, 1, 3}));
  EXPECT_EQ(model.target_host_cpus(kVmimA), std::vector<uint32_t>{3});
  EXPECT_TRUE(model.target_host_cpus(StoreKey{kVmimKind, "default", "none"}).empty());
}

TEST(PlacementModel, VmIdsAndMigrationsAreIndexed) {
  PlacementModel model;
  EXPECT_FALSE(model.vmi_for_vm_id("default-a"));
  model.index_vm_id("default-a", kVmiA);
  EXPECT_EQ(model.vmi_for_vm_id("default-a"), kVmiA);
  model.set_migrating("default-a", kVmimA);
  EXPECT_EQ(model.migration_of("default-a"), kVmimA);
  model.clear_migrating("default-a");
  EXPECT_FALSE(model.migration_of("default-a"));
}

TEST(PlacementModel, LoadRebuildsFromStoredVmisAndRunningMigrations) {
  auto store = open_store("memory");
  auto vmi = [](const std::string &name, const std::string &node, const std::string &phase) {
    return json{
        {"apiVersion", "kubevirt.io/v1"},
        {"kind", kVmiKind},
        {"metadata", {{"name", name}, {"namespace", "default"}}},
        {"spec",
         {{"domain",
           {{"cpu", {{"cores", 2}}},
            {"resources", {{"requests", {{"memory", "1Gi"}}}}},
            {"devices", json::object()}}}}},
        {"status", {{"phase", phase}, {"nodeName", node}, {"hal", {{"hostCpus", {6, 7}}}}}}};
  };
  store->create(kVmiA, vmi("a", "n1", "Running"));
  store->create(kVmiB, vmi("b", "n1", "Succeeded"));  // ended: holds nothing
  store->create(kVmimA, json{{"apiVersion", "kubevirt.io/v1"},
                             {"kind", kVmimKind},
                             {"metadata", {{"name", "a-migration"}, {"namespace", "default"}}},
                             {"spec", {{"vmiName", "a"}}},
                             {"status",
                              {{"phase", "Running"},
                               {"migrationState", {{"sourceNode", "n1"}, {"targetNode", "n2"}}}}}});
  PlacementModel model;
  model.place(StoreKey{kVmiKind, "default", "stale"}, Placement{"n9", 1, 1, {}});
  model.load(*store);
  EXPECT_TRUE(model.vmis_on("n9").empty());
  EXPECT_EQ(model.vmis_on("n1"), std::vector<StoreKey>{kVmiA});
  EXPECT_EQ(allocation(model, "n1").allocated_memory, 1024u * 1024 * 1024);
  EXPECT_EQ(allocation(model, "n2").vm_count, 1u);  // the migration's target
  EXPECT_EQ(model.host_cpus_in_use("n2"), (std::set<uint32_t>{6, 7}));
  EXPECT_EQ(model.active_migrations("n1"), 1u);
  EXPECT_EQ(model.migration_of("default-a"), kVmimA);
  EXPECT_EQ(model.vmi_for_vm_id("default-b"), kVmiB);
}

// A VMI stored before the (namespace, name) encoding changed keeps the VM id in its status, and
// so does its running migration: a running VM is never renamed by an upgrade.
TEST(PlacementModel, LoadKeepsTheVmIdAStoredVmiRunsUnder) {
  auto store = open_store("memory");
  const StoreKey vmi{kVmiKind, "a-b", "c"};
  const StoreKey vmim{kVmimKind, "a-b", "c-migration"};
  store->create(
      vmi,
      json{{"apiVersion", "kubevirt.io/v1"},
           {"kind", kVmiKind},
           {"metadata", {{"name", "c"}, {"namespace", "a-b"}}},
           {"spec", {{"domain", {{"devices", json::object()}}}}},
           {"status", {{"phase", "Running"}, {"nodeName", "n1"}, {"hal", {{"vmId", "a-b-c"}}}}}});
  store->create(vmim, json{{"apiVersion", "kubevirt.io/v1"},
                           {"kind", kVmimKind},
                           {"metadata", {{"name", "c-migration"}, {"namespace", "a-b"}}},
                           {"spec", {{"vmiName", "c"}}},
                           {"status",
                            {{"phase", "Running"},
                             {"migrationState", {{"sourceNode", "n1"}, {"targetNode", "n2"}}}}}});
  PlacementModel model;
  model.load(*store);
  EXPECT_EQ(vm_id_for("a-b", "c"), "a--b-c");
  EXPECT_EQ(model.vmi_for_vm_id("a-b-c"), vmi);
  EXPECT_FALSE(model.vmi_for_vm_id("a--b-c"));
  EXPECT_EQ(model.migration_of("a-b-c"), vmim);
  EXPECT_EQ(vm_id_of(store->get(vmi)->object, "a-b", "c"), "a-b-c");
  EXPECT_EQ(vm_id_of(json::object(), "a-b", "c"), "a--b-c");
}

}  // namespace
}  // namespace hal::controller
