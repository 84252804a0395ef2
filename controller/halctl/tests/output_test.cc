// output_test.cc - halctl's tables, documents, describe text, ages and progress bar (no server).
#include "controller/halctl/output.h"

#include <gtest/gtest.h>

#include "controller/api/kubevirt_api.h"

namespace hal::halctl {
namespace {

using nlohmann::json;

std::chrono::system_clock::time_point at(const char *) {
  // 2026-01-01T00:10:00Z
  return std::chrono::system_clock::from_time_t(1767226200);
}

json meta(const std::string &name) {
  return {{"name", name}, {"namespace", "default"}, {"creationTimestamp", "2026-01-01T00:00:00Z"}};
}

TEST(Output, Ages) {
  auto now = at("");
  EXPECT_EQ(format_age("2026-01-01T00:09:15Z", now), "45s");
  EXPECT_EQ(format_age("2026-01-01T00:00:00Z", now), "10m");
  EXPECT_EQ(format_age("2025-12-31T19:10:00Z", now), "5h");
  EXPECT_EQ(format_age("2025-12-29T00:09:59.5Z", now), "3d");
  EXPECT_EQ(format_age("2026-01-01T02:09:15+02:00", now), "45s");
  EXPECT_EQ(format_age("yesterday", now), "<unknown>");
  EXPECT_EQ(format_age(nullptr, now), "<unknown>");
}

TEST(Output, VirtualMachineTable) {
  TableContext ctx;
  ctx.now = at("");
  std::vector<json> vms = {{{"kind", "VirtualMachine"},
                            {"metadata", meta("testguest")},
                            {"status", {{"printableStatus", "Running"}, {"ready", true}}}},
                           {{"kind", "VirtualMachine"}, {"metadata", meta("b")}}};
  EXPECT_EQ(format_table("VirtualMachine", vms, false, ctx),
            "NAME        AGE   STATUS    READY\n"
            "testguest   10m   Running   True\n"
            "b           10m   Stopped   False\n");
}

TEST(Output, VmiTableAndWide) {
  TableContext ctx;
  ctx.now = at("");
  std::vector<json> vmis = {{{"kind", "VirtualMachineInstance"},
                             {"metadata", meta("testguest")},
                             {"status",
                              {{"phase", "Running"},
                               {"nodeName", "node-a"},
                               {"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
                               {"hal", {{"vmId", "default-testguest"}, {"backend", "kvm-qemu"}}},
                               {"interfaces", {{{"ipAddress", "10.0.2.15"}}}}}}}};
  EXPECT_EQ(format_table("VirtualMachineInstance", vmis, false, ctx),
            "NAME        AGE   PHASE     NODENAME   READY\n"
            "testguest   10m   Running   node-a     True\n");
  EXPECT_EQ(format_table("VirtualMachineInstance", vmis, true, ctx),
            "NAME        AGE   PHASE     NODENAME   READY   BACKEND    VMID                IP\n"
            "testguest   10m   Running   node-a     True    kvm-qemu   default-testguest   "
            "10.0.2.15\n");
}

TEST(Output, MigrationNodeAndPoolTables) {
  TableContext ctx;
  ctx.now = at("");
  std::vector<json> vmims = {{{"metadata", meta("m1")},
                              {"spec", {{"vmiName", "testguest"}}},
                              {"status",
                               {{"phase", "Running"},
                                {"migrationState", {{"sourceNode", "a"}, {"targetNode", "b"}}},
                                {"progress", {{"percent", 42}}}}}}};
  EXPECT_EQ(format_table("VirtualMachineInstanceMigration", vmims, false, ctx),
            "NAME   PHASE     VMI         SOURCE   TARGET   PROGRESS\n"
            "m1     Running   testguest   a        b        42%\n");
  std::vector<json> nodes = {{{"metadata", {{"name", "a"}}},
                              {"spec", {{"unschedulable", true}}},
                              {"status",
                               {{"pool", "qemu"},
                                {"backends", {"kvm-qemu"}},
                                {"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
                                {"allocatable", {{"cpu", 8}, {"memory", 17179869184ull}}},
                                {"allocated", {{"cpu", 1}, {"memory", 268435456}}}}}},
                             {{"metadata", {{"name", "b"}}}, {"status", {{"pool", "mock"}}}}};
  ctx.vmis = {{{"status", {{"nodeName", "a"}}}}, {{"status", {{"nodeName", "a"}}}}};
  EXPECT_EQ(format_table("Node", nodes, false, ctx),
            "NAME   STATUS                     POOL   BACKENDS   CPU   MEM          VMS\n"
            "a      Ready,SchedulingDisabled   qemu   kvm-qemu   1/8   256Mi/16Gi   2\n"
            "b      NotReady                   mock   <none>     0/0   0/0          0\n");
  ctx.nodes = nodes;
  std::vector<json> pools = {
      {{"metadata", {{"name", "qemu"}}}, {"spec", {{"backend", {{"plugin", "kvm-qemu"}}}}}}};
  EXPECT_EQ(format_table("NodePool", pools, false, ctx),
            "NAME   BACKEND    NODES\n"
            "qemu   kvm-qemu   1\n");
}

TEST(Output, RbacTables) {
  TableContext ctx;
  ctx.now = at("");
  std::vector<json> bindings = {{{"kind", "RoleBinding"},
                                 {"metadata", meta("team-a-operates-vms")},
                                 {"subjects",
                                  {{{"kind", "Group"}, {"name", "team-a"}},
                                   {{"kind", "User"}, {"name", "alice"}},
                                   {{"kind", "User"}, {"name", "bob"}}}},
                                 {"roleRef", {{"kind", "Role"}, {"name", "vm-operator"}}}}};
  EXPECT_EQ(format_table("RoleBinding", bindings, false, ctx),
            "NAME                  ROLE               AGE\n"
            "team-a-operates-vms   Role/vm-operator   10m\n");
  EXPECT_EQ(format_table("ClusterRoleBinding", bindings, true, ctx),
            "NAME                  ROLE               AGE   USERS       GROUPS\n"
            "team-a-operates-vms   Role/vm-operator   10m   alice,bob   team-a\n");
  std::vector<json> roles = {{{"kind", "ClusterRole"}, {"metadata", meta("vm-viewer")}}};
  EXPECT_EQ(format_table("ClusterRole", roles, false, ctx),
            "NAME        AGE\n"
            "vm-viewer   10m\n");
}

TEST(Output, Documents) {
  std::vector<json> one = {{{"kind", "VirtualMachine"}, {"metadata", {{"name", "x"}}}}};
  EXPECT_EQ(json::parse(format_document(one, true, Format::kJson)), one[0]);
  auto yaml = hal::controller::parse_manifests(format_document(one, true, Format::kYaml));
  ASSERT_EQ(yaml.size(), 1u);
  EXPECT_EQ(yaml[0], one[0]);
  json list = json::parse(format_document(one, false, Format::kJson));
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["items"][0], one[0]);
  Format f;
  EXPECT_TRUE(parse_format("wide", f));
  EXPECT_EQ(f, Format::kWide);
  EXPECT_FALSE(parse_format("xml", f));
}

TEST(Output, DescribeListsConditionsAndOnlyItsEvents) {
  json vm = {
      {"apiVersion", "kubevirt.io/v1"},
      {"kind", "VirtualMachine"},
      {"metadata",
       {{"name", "testguest"}, {"namespace", "default"}, {"labels", {{"app", "testguest"}}}}},
      {"spec", {{"runStrategy", "Always"}}},
      {"status",
       {{"printableStatus", "Running"},
        {"conditions",
         {{{"type", "Ready"}, {"status", "True"}, {"reason", "VMIRunning"}, {"message", ""}}}}}}};
  std::vector<json> events = {
      {{"involvedObject",
        {{"kind", "VirtualMachine"}, {"namespace", "default"}, {"name", "testguest"}}},
       {"type", "Normal"},
       {"reason", "Started"},
       {"message", "VMI started on node-a"},
       {"firstTimestamp", "2026-01-01T00:09:00Z"},
       {"count", 2}},
      {{"involvedObject",
        {{"kind", "VirtualMachine"}, {"namespace", "default"}, {"name", "other"}}},
       {"type", "Warning"},
       {"reason", "Elsewhere"},
       {"message", "not this one"}}};
  std::string text = format_describe(vm, events, at(""));
  EXPECT_NE(text.find("Name:         testguest\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Labels:       app=testguest\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Spec:\n  runStrategy: Always\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Status:\n  printableStatus: Running\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  Ready   True     VMIRunning"), std::string::npos) << text;
  EXPECT_NE(text.find("  Normal   Started   60s   2       VMI started on node-a"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("Elsewhere"), std::string::npos) << text;
  EXPECT_NE(
      format_describe(json{{"kind", "NodePool"}, {"metadata", {{"name", "p"}}}}, events, at(""))
          .find("Events:      <none>"),
      std::string::npos);
}

TEST(Output, ProgressBar) {
  json m = {{"status",
             {{"phase", "Running"},
              {"progress",
               {{"percent", 50},
                {"dataProcessedBytes", 256 << 20},
                {"dataRemainingBytes", 256 << 20}}}}}};
  EXPECT_EQ(format_progress(m, false), "phase=Running progress=50%");
  EXPECT_EQ(format_progress(m, true, 10), "[=====>    ]  50% Running 256Mi/512Mi");
  json done = {{"status", {{"phase", "Succeeded"}}}};
  EXPECT_EQ(format_progress(done, true, 10), "[==========] 100% Succeeded");
  EXPECT_EQ(format_progress(json::object(), false), "phase=Pending progress=0%");
}

}  // namespace
}  // namespace hal::halctl
