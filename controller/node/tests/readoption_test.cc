// readoption_test.cc - restarting the agent (stop, then a new NodeAgent on the same state dir)
// re-adopts the mock VMs with their states, and the guest kept running (no reboot); the new
// agent has a new boot id and registers the re-adopted VMs.
#include <gtest/gtest.h>

#include "controller/node/node_agent.h"
#include "controller/node/tests/fake_registry.h"
#include "controller/node/tests/test_support.h"

namespace hal::node::testing {
namespace {

using namespace std::chrono_literals;

v1::VmStatus call(v1::NodeAgent::Stub &stub, const std::string &rpc, const std::string &vm) {
  v1::VmRef ref;
  ref.set_vm_id(vm);
  v1::VmStatus out;
  grpc::Status status;
  if (rpc == "start") status = stub.StartVm(deadline_context().get(), ref, &out);
  if (rpc == "pause") status = stub.PauseVm(deadline_context().get(), ref, &out);
  if (rpc == "get") status = stub.GetVm(deadline_context().get(), ref, &out);
  if (rpc == "create") {
    v1::CreateVmRequest request;
    request.set_backend("mock");
    request.set_spec_json(mock_spec(vm).dump());
    status = stub.CreateVm(deadline_context().get(), request, &out);
  }
  EXPECT_TRUE(status.ok()) << rpc << " " << vm << ": " << status.error_message();
  return out;
}

TEST(ReadoptionTest, RestartedAgentReadoptsVmsWithoutDisruption) {
  TempDir dir;
  FakeRegistry registry(0, 50);
  NodeAgentOptions options = mock_agent_options("re", dir.path());
  options.controller = registry.address();

  auto first = std::make_unique<NodeAgent>(options);
  first->start();
  const int64_t first_boot = first->boot_id();
  {
    auto stub = node_stub(first->address());
    call(*stub, "create", "running");
    call(*stub, "start", "running");
    call(*stub, "create", "paused");
    call(*stub, "start", "paused");
    call(*stub, "pause", "paused");
    call(*stub, "create", "stopped");
  }
  std::this_thread::sleep_for(100ms);  // the running guest's heartbeat advances
  first->stop();
  first.reset();
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "mock" / "vms.journal"));  // the mock's state

  NodeAgent second(options);
  second.start();
  EXPECT_NE(second.boot_id(), first_boot);
  auto stub = node_stub(second.address());
  v1::ListVmsResponse list;
  ASSERT_TRUE(stub->ListVms(deadline_context().get(), v1::ListVmsRequest(), &list).ok());
  std::map<std::string, std::string> states;
  for (const auto &vm : list.vms()) states[vm.vm_id()] = vm.state();
  EXPECT_EQ(states, (std::map<std::string, std::string>{
                        {"running", "Running"}, {"paused", "Paused"}, {"stopped", "Stopped"}}));

  // The guest was not rebooted: still its first boot, uptime continuing.
  nlohmann::json info = nlohmann::json::parse(call(*stub, "get", "running").info_json());
  EXPECT_EQ(info["guest"]["bootCount"], 1);
  EXPECT_GE(info["guest"]["heartbeat"].get<int64_t>(), 10);

  // The new boot registers with every re-adopted VM.
  ASSERT_TRUE(wait_until([&] {
    for (const auto &r : registry.registrations())
      if (r.node().boot_id() == second.boot_id()) return true;
    return false;
  }));
  for (const auto &r : registry.registrations()) {
    if (r.node().boot_id() != second.boot_id()) continue;
    std::map<std::string, std::string> registered;
    for (const auto &vm : r.vms()) registered[vm.vm_id()] = vm.state();
    EXPECT_EQ(registered, states);
  }
  // And serves them.
  EXPECT_EQ(call(*stub, "pause", "running").state(), "Paused");
}

}  // namespace
}  // namespace hal::node::testing
