// vm_actions_test.cc - the actions against a mock node agent: pause and unpause go to the node
// through its call slots (and say so when the node stays busy past the deadline), a forced stop
// powers the guest off at once, start/stop change the run strategy, and errors name the problem.
#include "controller/server/vm_actions.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "controller/server/instance_reconciler.h"
#include "controller/server/object_util.h"
#include "controller/server/tests/reconciler_harness.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using testing::reconcile_until;
using testing::ReconcilerHarness;

ControllerOptions short_deadline() {
  ControllerOptions options = testing::fast_options();
  options.rpc_timeout = 300ms;
  return options;
}

std::string vm_manifest(const std::string &name, const std::string &strategy) {
  return "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
         "\nspec:\n  runStrategy: " + strategy +
         "\n  template:\n    spec:\n      nodeSelector:\n        hal.dev/pool: mock\n"
         "      domain:\n        cpu:\n          cores: 1\n        resources:\n          "
         "requests:\n            memory: 128Mi\n        devices: {}\n";
}

class VmActionsTest : public ::testing::Test {
 protected:
  void run_vm(const std::string &name) {
    harness_.apply(vm_manifest(name, "Always"));
    ASSERT_TRUE(reconcile_until([&] { return instances_.reconcile("default", name); },
                                [&] {
                                  return str_at(harness_.get(kVmiKind, name),
                                                json::json_pointer("/status/phase")) == "Running";
                                }));
  }
  int code_of(const std::function<void()> &action, std::string *message = nullptr) {
    try {
      action();
    } catch (const ActionError &e) {
      if (message != nullptr) *message = e.what();
      return e.code();
    }
    return 0;
  }

  ReconcilerHarness harness_{short_deadline()};
  InstanceReconciler instances_{harness_.shared()};
  VmActions actions_{harness_.shared()};
};

TEST_F(VmActionsTest, PauseAndUnpauseReachTheNode) {
  harness_.start_node("node-a");
  run_vm("a");
  actions_.pause_vm("default", "a", true);
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Paused");
  EXPECT_EQ(harness_.shared().registry.observed("node-a", "default-a"), "Paused");
  // The instance reconciler records the pause; unpause needs it recorded.
  ASSERT_TRUE(reconcile_until([&] { return instances_.reconcile("default", "a"); },
                              [&] {
                                const json vmi = harness_.get(kVmiKind, "a");
                                return find_condition(conditions_of(vmi), "Paused") != nullptr;
                              }));
  actions_.pause_vm("default", "a", false);
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Running");
}

TEST_F(VmActionsTest, APauseWaitsForACallSlotAndSaysWhenTheNodeStaysBusy) {
  harness_.start_node("node-a");
  run_vm("a");
  auto first = harness_.slots().try_claim("node-a", "other/1");
  auto second = harness_.slots().try_claim("node-a", "other/2");
  ASSERT_TRUE(first && second);
  std::string message;
  EXPECT_EQ(code_of([&] { actions_.pause_vm("default", "a", true); }, &message),
            static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  EXPECT_NE(message.find("busy"), std::string::npos) << message;
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Running");
  first.reset();
  actions_.pause_vm("default", "a", true);
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Paused");
}

TEST_F(VmActionsTest, AForcedStopPowersTheGuestOffAndHaltsTheVm) {
  harness_.start_node("node-a");
  run_vm("a");
  actions_.stop_vm("default", "a", true);
  EXPECT_EQ(harness_.node_state("node-a", "default-a"), "Stopped");
  EXPECT_EQ(harness_.get(kVmKind, "a")["spec"]["runStrategy"], "Halted");
}

TEST_F(VmActionsTest, ErrorsNameTheProblem) {
  harness_.start_node("node-a");
  std::string message;
  EXPECT_EQ(code_of([&] { actions_.start_vm("default", "ghost"); }, &message),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_NE(message.find("default/ghost"), std::string::npos) << message;
  harness_.apply(vm_manifest("halted", "Halted"));
  EXPECT_EQ(code_of([&] { actions_.pause_vm("default", "halted", true); }, &message),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(code_of([&] { actions_.restart_vm("default", "halted"); }, &message),
            static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  actions_.start_vm("default", "halted");
  EXPECT_EQ(harness_.get(kVmKind, "halted")["spec"]["runStrategy"], "Always");
  EXPECT_EQ(code_of([&] { actions_.migrate_vm("default", "halted", "node-z"); }, &message),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

}  // namespace
}  // namespace hal::controller
