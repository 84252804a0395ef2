// run_strategy_test.cc - KubeVirt runStrategy decisions and VM printable status.
#include "controller/server/run_strategy.h"

#include <gtest/gtest.h>

#include "controller/server/object_util.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using Action = RunDecision::Action;

json vm(const std::string &strategy) {
  return json{{"metadata", {{"name", "v"}}}, {"spec", {{"runStrategy", strategy}}}};
}

json vmi(const std::string &phase, const std::string &uid = "u1") {
  return json{{"metadata", {{"uid", uid}}}, {"status", {{"phase", phase}}}};
}

TEST(RunStrategy, Always) {
  EXPECT_EQ(decide_run(vm("Always"), nullptr, 0).action, Action::kCreate);
  auto running = vmi("Running");
  EXPECT_EQ(decide_run(vm("Always"), &running, 0).action, Action::kNone);
  auto succeeded = vmi("Succeeded");
  auto d = decide_run(vm("Always"), &succeeded, 0);
  EXPECT_EQ(d.action, Action::kStop);
  EXPECT_FALSE(d.failure_restart);
  auto failed = vmi("Failed");
  d = decide_run(vm("Always"), &failed, 0);
  EXPECT_EQ(d.action, Action::kStop);
  EXPECT_TRUE(d.failure_restart);
}

TEST(RunStrategy, RerunOnFailure) {
  EXPECT_EQ(decide_run(vm("RerunOnFailure"), nullptr, 0).action, Action::kCreate);
  auto succeeded = vmi("Succeeded");
  EXPECT_EQ(decide_run(vm("RerunOnFailure"), &succeeded, 0).action, Action::kNone);
  auto failed = vmi("Failed");
  EXPECT_EQ(decide_run(vm("RerunOnFailure"), &failed, 0).action, Action::kStop);
}

TEST(RunStrategy, OnceManualHalted) {
  EXPECT_EQ(decide_run(vm("Once"), nullptr, 0).action, Action::kCreate);
  auto started = vm("Once");
  started["status"]["hal"]["started"] = true;
  EXPECT_EQ(decide_run(started, nullptr, 0).action, Action::kNone);
  auto failed = vmi("Failed");
  EXPECT_EQ(decide_run(vm("Once"), &failed, 0).action, Action::kNone);
  EXPECT_EQ(decide_run(vm("Manual"), nullptr, 0).action, Action::kNone);
  EXPECT_EQ(decide_run(vm("Manual"), &failed, 0).action, Action::kNone);
  auto running = vmi("Running");
  EXPECT_EQ(decide_run(vm("Halted"), &running, 0).action, Action::kStop);
  EXPECT_EQ(decide_run(vm("Halted"), nullptr, 0).action, Action::kNone);
}

TEST(RunStrategy, RunningBoolMapsToAlwaysOrHalted) {
  json on{{"spec", {{"running", true}}}};
  json off{{"spec", {{"running", false}}}};
  EXPECT_EQ(run_strategy(on), "Always");
  EXPECT_EQ(run_strategy(off), "Halted");
  EXPECT_EQ(decide_run(on, nullptr, 0).action, Action::kCreate);
  EXPECT_EQ(decide_run(off, nullptr, 0).action, Action::kNone);
}

TEST(RunStrategy, StateChangeRequests) {
  auto manual = vm("Manual");
  manual["status"]["stateChangeRequests"] = {{{"action", "Start"}}};
  auto d = decide_run(manual, nullptr, 0);
  EXPECT_EQ(d.action, Action::kCreate);
  EXPECT_TRUE(d.pop_request);
  // Restart: Stop(uid) then Start.
  manual["status"]["stateChangeRequests"] = {{{"action", "Stop"}, {"uid", "u1"}},
                                             {{"action", "Start"}}};
  auto running = vmi("Running", "u1");
  d = decide_run(manual, &running, 0);
  EXPECT_EQ(d.action, Action::kStop);
  EXPECT_FALSE(d.pop_request);  // Popped once the VMI is gone.
  d = decide_run(manual, nullptr, 0);
  EXPECT_EQ(d.action, Action::kNone);
  EXPECT_TRUE(d.pop_request);
  // A Stop naming another VMI's uid does not stop the new one.
  auto other = vmi("Running", "u2");
  d = decide_run(manual, &other, 0);
  EXPECT_TRUE(d.pop_request);
  EXPECT_EQ(d.action, Action::kNone);
}

TEST(RunStrategy, CrashLoopBackOff) {
  auto always = vm("Always");
  always["status"]["startFailure"] = {{"consecutiveFailCount", 2}, {"retryAfterUnixMs", 5000}};
  EXPECT_EQ(decide_run(always, nullptr, 4000).action, Action::kWaitBackoff);
  EXPECT_EQ(decide_run(always, nullptr, 6000).action, Action::kCreate);
  sync_vm_status(always, nullptr, 4000);
  EXPECT_EQ(always["status"]["printableStatus"], "CrashLoopBackOff");
  sync_vm_status(always, nullptr, 6000);
  EXPECT_EQ(always["status"]["printableStatus"], "Stopped");
}

TEST(VmStatus, PrintableStatus) {
  auto v = vm("Always");
  auto pending = vmi("Pending");
  EXPECT_TRUE(sync_vm_status(v, &pending, 0));
  EXPECT_EQ(v["status"]["printableStatus"], "Starting");
  EXPECT_EQ(v["status"]["created"], true);
  EXPECT_EQ(v["status"]["ready"], false);

  set_condition(pending["status"]["conditions"], "PodScheduled", false, "Unschedulable",
                "0/1 nodes");
  sync_vm_status(v, &pending, 0);
  EXPECT_EQ(v["status"]["printableStatus"], "ErrorUnschedulable");
  ASSERT_NE(find_condition(v["status"]["conditions"], "PodScheduled"), nullptr);

  auto running = vmi("Running");
  sync_vm_status(v, &running, 0);
  EXPECT_EQ(v["status"]["printableStatus"], "Running");
  EXPECT_EQ(v["status"]["ready"], true);
  EXPECT_EQ(find_condition(v["status"]["conditions"], "PodScheduled"), nullptr);
  EXPECT_FALSE(sync_vm_status(v, &running, 0));  // Idempotent: no write needed.

  set_condition(running["status"]["conditions"], "Paused", true, "PausedByUser", "");
  sync_vm_status(v, &running, 0);
  EXPECT_EQ(v["status"]["printableStatus"], "Paused");
  EXPECT_EQ(v["status"]["ready"], false);

  auto migrating = vmi("Running");
  migrating["status"]["migrationState"] = {{"completed", false}, {"failed", false}};
  sync_vm_status(v, &migrating, 0);
  EXPECT_EQ(v["status"]["printableStatus"], "Migrating");

  sync_vm_status(v, nullptr, 0);
  EXPECT_EQ(v["status"]["printableStatus"], "Stopped");
  v["metadata"]["deletionTimestamp"] = "now";
  sync_vm_status(v, nullptr, 0);
  EXPECT_EQ(v["status"]["printableStatus"], "Terminating");
}

}  // namespace
}  // namespace hal::controller
