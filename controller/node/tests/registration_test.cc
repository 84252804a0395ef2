// registration_test.cc - NodeRegistry registration and heartbeats against a fake registry:
// what Register carries, heartbeats at the answered interval, re-registering on
// reregister=true, and a controller that is down (at start, or later) then comes back; the agent
// serves VMs all along; an --advertise address is what it registers.
#include <gtest/gtest.h>

#include "controller/node/node_agent.h"
#include "controller/node/tests/fake_registry.h"
#include "controller/node/tests/test_support.h"

namespace hal::node::testing {
namespace {

using namespace std::chrono_literals;

// A port that was free a moment ago.
int free_port() {
  FakeRegistry probe(0);
  int port = probe.port();
  probe.shutdown();
  return port;
}

void create_vm(v1::NodeAgent::Stub &stub, const std::string &name, bool start) {
  v1::CreateVmRequest request;
  request.set_backend("mock");
  request.set_spec_json(mock_spec(name).dump());
  request.set_start(start);
  v1::VmStatus out;
  grpc::Status status = stub.CreateVm(deadline_context().get(), request, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
}

std::map<std::string, std::string> vm_states(const v1::RegisterNodeRequest &request) {
  std::map<std::string, std::string> out;
  for (const auto &vm : request.vms()) out[vm.vm_id()] = vm.state();
  return out;
}

TEST(RegistrationTest, RegistersNodeInfoAndVmsThenHeartbeats) {
  TempDir dir;
  FakeRegistry registry(0, 50);
  NodeAgentOptions options = mock_agent_options("reg-1", dir.path());
  options.controller = registry.address();
  options.labels["zone"] = "z1";
  NodeAgent agent(options);
  agent.start();
  ASSERT_TRUE(wait_until([&] { return !registry.registrations().empty(); }));
  v1::RegisterNodeRequest first = registry.registrations().front();
  const v1::NodeInfo &node = first.node();
  EXPECT_EQ(node.name(), "reg-1");
  EXPECT_EQ(node.pool(), "mock");
  EXPECT_EQ(node.address(), agent.address());
  EXPECT_EQ(node.boot_id(), agent.boot_id());
  EXPECT_EQ(node.backends_size(), 1);
  EXPECT_TRUE(nlohmann::json::parse(node.capabilities_json()).contains("mock"));
  EXPECT_TRUE(nlohmann::json::parse(node.host_info_json()).contains("numaNodes"));
  nlohmann::json labels = nlohmann::json::parse(node.labels_json());
  EXPECT_EQ(labels["hal.dev/pool"], "mock");
  EXPECT_EQ(labels["kubernetes.io/hostname"], "reg-1");
  EXPECT_EQ(labels["zone"], "z1");
  EXPECT_GT(node.allocatable_cpus(), 0u);
  EXPECT_GT(node.allocatable_memory_bytes(), 0u);
  EXPECT_EQ(first.vms_size(), 0);

  // Heartbeats at the registry's 50 ms interval, carrying the boot id and event sequence.
  auto stub = node_stub(agent.address());
  create_vm(*stub, "hb", true);
  ASSERT_TRUE(wait_until([&] { return registry.heartbeats().size() >= 5; }, 3s));
  ASSERT_TRUE(wait_until([&] {
    auto beats = registry.heartbeats();
    return beats.back().last_event_sequence() == agent.last_event_sequence() &&
           agent.last_event_sequence() > 0;
  }));
  for (const auto &beat : registry.heartbeats()) {
    EXPECT_EQ(beat.node_name(), "reg-1");
    EXPECT_EQ(beat.boot_id(), agent.boot_id());
  }
  EXPECT_EQ(registry.registrations().size(), 1u);
  EXPECT_EQ(agent.registration().interval, 50ms);
  EXPECT_TRUE(agent.registration().registered);
}

TEST(RegistrationTest, RegistersTheAdvertisedAddress) {
  TempDir dir;
  FakeRegistry registry(0, 50);
  NodeAgentOptions options = mock_agent_options("reg-adv", dir.path());
  options.controller = registry.address();
  // No port: the bound one. Nothing here dials it (no name lookup in a test).
  options.advertise = "node-7.example";
  NodeAgent agent(options);
  agent.start();
  ASSERT_TRUE(wait_until([&] { return !registry.registrations().empty(); }));
  const std::string registered = registry.registrations().front().node().address();
  EXPECT_EQ(registered, "node-7.example:" + std::to_string(agent.port()));
  EXPECT_EQ(agent.address(), registered);
}

TEST(RegistrationTest, ReregistersWhenTheControllerAsks) {
  TempDir dir;
  FakeRegistry registry(0, 30);
  NodeAgentOptions options = mock_agent_options("reg-2", dir.path());
  options.controller = registry.address();
  NodeAgent agent(options);
  agent.start();
  ASSERT_TRUE(wait_until([&] { return registry.registrations().size() == 1; }));
  auto stub = node_stub(agent.address());
  create_vm(*stub, "kept", true);
  registry.forget_nodes();
  ASSERT_TRUE(wait_until([&] { return registry.registrations().size() >= 2; }));
  EXPECT_EQ(vm_states(registry.registrations()[1]),
            (std::map<std::string, std::string>{{"kept", "Running"}}));
  EXPECT_EQ(registry.registrations()[1].node().boot_id(), agent.boot_id());
}

TEST(RegistrationTest, ControllerDownThenUpReregistersAndVmsKeepBeingServed) {
  TempDir dir;
  auto registry = std::make_unique<FakeRegistry>(0, 30);
  const int port = registry->port();
  NodeAgentOptions options = mock_agent_options("reg-3", dir.path());
  options.controller = registry->address();
  options.max_retry_backoff = 200ms;
  NodeAgent agent(options);
  agent.start();
  ASSERT_TRUE(wait_until([&] { return registry->registrations().size() == 1; }));

  registry->shutdown();  // the controller dies
  ASSERT_TRUE(wait_until([&] { return !agent.registration().registered; }, 5s));
  // The agent keeps serving VMs meanwhile.
  auto stub = node_stub(agent.address());
  create_vm(*stub, "while-down", true);
  v1::ListVmsResponse list;
  ASSERT_TRUE(stub->ListVms(deadline_context().get(), v1::ListVmsRequest(), &list).ok());
  EXPECT_EQ(list.vms_size(), 1);
  std::this_thread::sleep_for(300ms);  // several failed attempts with back-off

  registry = std::make_unique<FakeRegistry>(port, 30);  // the controller is back
  ASSERT_TRUE(wait_until([&] { return !registry->registrations().empty(); }, 10s));
  v1::RegisterNodeRequest again = registry->registrations().front();
  EXPECT_EQ(again.node().name(), "reg-3");
  EXPECT_EQ(again.node().boot_id(), agent.boot_id());
  EXPECT_EQ(vm_states(again), (std::map<std::string, std::string>{{"while-down", "Running"}}));
  ASSERT_TRUE(wait_until([&] { return registry->heartbeats().size() >= 2; }));
  EXPECT_GT(agent.registration().failures, 0u);
  EXPECT_TRUE(agent.registration().registered);
}

TEST(RegistrationTest, ControllerUnreachableAtStartDoesNotStopTheAgent) {
  TempDir dir;
  const int port = free_port();
  NodeAgentOptions options = mock_agent_options("reg-4", dir.path());
  options.controller = "127.0.0.1:" + std::to_string(port);
  options.max_retry_backoff = 200ms;
  NodeAgent agent(options);
  agent.start();
  auto stub = node_stub(agent.address());
  create_vm(*stub, "early", false);
  ASSERT_TRUE(wait_until([&] { return agent.registration().failures >= 2; }));
  FakeRegistry registry(port, 30);
  ASSERT_TRUE(wait_until([&] { return !registry.registrations().empty(); }, 10s));
  EXPECT_EQ(vm_states(registry.registrations().front()),
            (std::map<std::string, std::string>{{"early", "Stopped"}}));
}

}  // namespace
}  // namespace hal::node::testing
