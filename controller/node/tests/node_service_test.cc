// node_service_test.cc - every NodeAgent RPC against the mock backend through a real gRPC
// channel on 127.0.0.1:0: node info, the VM lifecycle, listing, live migration between two
// agents, a second agent refused on the first's port, request validation (INVALID_ARGUMENT
// naming the field), backend errors mapped 1:1 with the backend's message, and the console
// answer for a backend without a console.
#include <gtest/gtest.h>

#include <thread>

#include "controller/node/node_agent.h"
#include "controller/node/tests/test_support.h"
#include "hal/host.hpp"

namespace hal::node::testing {
namespace {

using namespace std::chrono_literals;

class NodeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_ = std::make_unique<NodeAgent>(mock_agent_options("node-a", dir_.path() / "a"));
    agent_->start();
    stub_ = node_stub(agent_->address());
  }

  v1::VmStatus create(const std::string &name, bool start, grpc::Status *status = nullptr,
                      v1::NodeAgent::Stub *stub = nullptr) {
    v1::CreateVmRequest request;
    request.set_backend("mock");
    request.set_spec_json(mock_spec(name).dump());
    request.set_start(start);
    v1::VmStatus response;
    grpc::Status s =
        (stub ? stub : stub_.get())->CreateVm(deadline_context().get(), request, &response);
    if (status)
      *status = s;
    else
      EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // Calls a VmRef RPC and returns the status (response in *out).
  template <class Rpc>
  grpc::Status call(Rpc rpc, const std::string &vm_id, v1::VmStatus *out = nullptr) {
    v1::VmRef ref;
    ref.set_vm_id(vm_id);
    v1::VmStatus response;
    grpc::Status status = ((*stub_).*rpc)(deadline_context().get(), ref, &response);
    if (out) *out = response;
    return status;
  }

  v1::VmStatus get(const std::string &vm_id, v1::NodeAgent::Stub *stub = nullptr) {
    v1::VmRef ref;
    ref.set_vm_id(vm_id);
    v1::VmStatus response;
    grpc::Status status =
        (stub ? stub : stub_.get())->GetVm(deadline_context().get(), ref, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  TempDir dir_;
  std::unique_ptr<NodeAgent> agent_;
  std::unique_ptr<v1::NodeAgent::Stub> stub_;
};

TEST_F(NodeServiceTest, GetNodeInfoDescribesTheNode) {
  v1::NodeInfo info;
  grpc::Status status =
      stub_->GetNodeInfo(deadline_context().get(), v1::GetNodeInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.name(), "node-a");
  EXPECT_EQ(info.pool(), "mock");
  EXPECT_EQ(info.address(), agent_->address());
  ASSERT_EQ(info.backends_size(), 1);
  EXPECT_EQ(info.backends(0), "mock");
  nlohmann::json caps = nlohmann::json::parse(info.capabilities_json());
  ASSERT_TRUE(caps.contains("mock"));
  EXPECT_TRUE(caps["mock"].contains("operations"));
  nlohmann::json host = nlohmann::json::parse(info.host_info_json());
  EXPECT_EQ(info.allocatable_cpus(), host["cpus"].get<uint32_t>());
  EXPECT_EQ(info.allocatable_memory_bytes(), host["memory"].get<uint64_t>());
  EXPECT_GT(info.allocatable_cpus(), 0u);
  nlohmann::json labels = nlohmann::json::parse(info.labels_json());
  EXPECT_EQ(labels["hal.dev/pool"], "mock");
  EXPECT_EQ(labels["kubernetes.io/hostname"], "node-a");
  EXPECT_NE(info.boot_id(), 0);
  EXPECT_EQ(info.boot_id(), agent_->boot_id());
  EXPECT_FALSE(info.agent_version().empty());
}

// gRPC's default SO_REUSEPORT would let the second agent serve beside the first and take half of
// the connections meant for it.
TEST_F(NodeServiceTest, SecondAgentOnTheSamePortIsRefused) {
  NodeAgentOptions options = mock_agent_options("node-b", dir_.path() / "b");
  options.listen = agent_->address();
  NodeAgent second(options);
  try {
    second.start();
    ADD_FAILURE() << "a second agent started on " << agent_->address();
  } catch (const hal::Error &e) {
    EXPECT_NE(std::string(e.what()).find("cannot serve on '" + agent_->address() + "'"),
              std::string::npos)
        << e.what();
  }
  v1::NodeInfo info;
  grpc::Status status =
      stub_->GetNodeInfo(deadline_context().get(), v1::GetNodeInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.name(), "node-a");
}

TEST_F(NodeServiceTest, LifecycleThroughEveryRpc) {
  v1::VmStatus vm = create("life", false);
  EXPECT_EQ(vm.vm_id(), "life");
  EXPECT_EQ(vm.backend(), "mock");
  EXPECT_EQ(vm.state(), "Stopped");
  EXPECT_GT(vm.updated_unix_ms(), 0);

  v1::VmStatus out;
  ASSERT_TRUE(call(&v1::NodeAgent::Stub::StartVm, "life", &out).ok());
  EXPECT_EQ(out.state(), "Running");
  ASSERT_TRUE(call(&v1::NodeAgent::Stub::PauseVm, "life", &out).ok());
  EXPECT_EQ(out.state(), "Paused");
  ASSERT_TRUE(call(&v1::NodeAgent::Stub::ResumeVm, "life", &out).ok());
  EXPECT_EQ(out.state(), "Running");
  uint64_t boots = nlohmann::json::parse(get("life").info_json())["guest"]["bootCount"];
  ASSERT_TRUE(call(&v1::NodeAgent::Stub::RebootVm, "life", &out).ok());
  EXPECT_EQ(out.state(), "Running");
  nlohmann::json info = nlohmann::json::parse(get("life").info_json());
  EXPECT_EQ(info["id"], "life");
  EXPECT_EQ(info["state"], "Running");
  EXPECT_EQ(info["guest"]["bootCount"].get<uint64_t>(), boots + 1);

  // Graceful stop with a timeout: the mock guest powers off on ACPI.
  v1::StopVmRequest stop;
  stop.set_vm_id("life");
  stop.set_timeout_ms(5000);
  ASSERT_TRUE(stub_->StopVm(deadline_context().get(), stop, &out).ok());
  EXPECT_EQ(out.state(), "Stopped");

  // Create + start in one call, then a forced stop.
  EXPECT_EQ(create("quick", true).state(), "Running");
  stop.set_vm_id("quick");
  stop.set_force(true);
  ASSERT_TRUE(stub_->StopVm(deadline_context().get(), stop, &out).ok());
  EXPECT_EQ(out.state(), "Stopped");

  // ListVms lists both.
  create("third", true);
  v1::ListVmsResponse list;
  ASSERT_TRUE(stub_->ListVms(deadline_context().get(), v1::ListVmsRequest(), &list).ok());
  std::map<std::string, std::string> states;
  for (const auto &v : list.vms()) {
    states[v.vm_id()] = v.state();
    EXPECT_EQ(v.backend(), "mock");
  }
  EXPECT_EQ(states, (std::map<std::string, std::string>{
                        {"life", "Stopped"}, {"quick", "Stopped"}, {"third", "Running"}}));

  // DeleteVm stops a running VM first.
  v1::DeleteVmRequest del;
  del.set_vm_id("third");
  del.set_delete_storage(true);
  v1::DeleteVmResponse deleted;
  grpc::Status status = stub_->DeleteVm(deadline_context().get(), del, &deleted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(call(&v1::NodeAgent::Stub::GetVm, "third").error_code(), grpc::StatusCode::NOT_FOUND);
  del.set_vm_id("life");
  ASSERT_TRUE(stub_->DeleteVm(deadline_context().get(), del, &deleted).ok());
  list.Clear();
  ASSERT_TRUE(stub_->ListVms(deadline_context().get(), v1::ListVmsRequest(), &list).ok());
  ASSERT_EQ(list.vms_size(), 1);
  EXPECT_EQ(list.vms(0).vm_id(), "quick");
}

TEST_F(NodeServiceTest, EmptyOrUnknownVmIdIsRejected) {
  using Stub = v1::NodeAgent::Stub;
  for (auto rpc :
       {&Stub::StartVm, &Stub::PauseVm, &Stub::ResumeVm, &Stub::RebootVm, &Stub::GetVm}) {
    grpc::Status empty = call(rpc, "");
    EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(empty.error_message().find("vm_id"), std::string::npos) << empty.error_message();
    grpc::Status unknown = call(rpc, "nope");
    EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(unknown.error_message().find("nope"), std::string::npos);
    // Issue 25: an id that could name a path outside a state dir never reaches a backend.
    for (const char *bad : {"..", "../x", "a/b", "UPPER"}) {
      grpc::Status invalid = call(rpc, bad);
      EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
      EXPECT_EQ(invalid.error_message().rfind(std::string("vm_id: '") + bad + "' ", 0), 0u)
          << invalid.error_message();
    }
  }
  v1::StopVmRequest stop;
  v1::VmStatus out;
  EXPECT_EQ(stub_->StopVm(deadline_context().get(), stop, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::DeleteVmRequest del;
  v1::DeleteVmResponse deleted;
  EXPECT_EQ(stub_->DeleteVm(deadline_context().get(), del, &deleted).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  del.set_vm_id("nope");
  EXPECT_EQ(stub_->DeleteVm(deadline_context().get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::VmRef ref;
  v1::MigrationProgress progress;
  EXPECT_EQ(stub_->GetMigrationProgress(deadline_context().get(), ref, &progress).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::CancelMigrationRequest cancel;
  v1::CancelMigrationResponse cancelled;
  EXPECT_EQ(stub_->CancelMigration(deadline_context().get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::SendMigrationRequest send;
  send.set_params_json(R"({"uri":"tcp:127.0.0.1:1"})");
  grpc::Status s = stub_->SendMigration(deadline_context().get(), send, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("vm_id"), std::string::npos);
}

TEST_F(NodeServiceTest, BadCreateRequestsNameTheField) {
  auto create_with = [&](const std::string &backend, const std::string &spec) {
    v1::CreateVmRequest request;
    request.set_backend(backend);
    request.set_spec_json(spec);
    v1::VmStatus out;
    return stub_->CreateVm(deadline_context().get(), request, &out);
  };
  auto expect_invalid = [](const grpc::Status &status, const std::string &field) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_NE(status.error_message().find(field), std::string::npos)
        << field << " not in: " << status.error_message();
  };
  expect_invalid(create_with("", mock_spec("x").dump()), "backend");
  expect_invalid(create_with("kvm-qemu", mock_spec("x").dump()), "backend");
  expect_invalid(create_with("mock", ""), "spec_json");
  expect_invalid(create_with("mock", "{not json"), "spec_json");
  expect_invalid(create_with("mock", "[1,2]"), "spec_json");
  expect_invalid(create_with("mock", R"({"apiVersion":"hal.dev/v1"})"), "spec_json.name");
  nlohmann::json bad = mock_spec("bad");
  bad["cpu"]["vcpus"] = 0;
  expect_invalid(create_with("mock", bad.dump()), "cpu.vcpus");
  expect_invalid(create_with("mock", mock_spec("../escape").dump()), "spec_json.name");
  // Issue 25: a host file outside the node's roots (default /var/lib/hal/images) is refused.
  nlohmann::json shadow = mock_spec("shadow");
  shadow["disks"] = {{{"name", "root"}, {"path", "/etc/shadow"}}};
  expect_invalid(create_with("mock", shadow.dump()),
                 "spec_json.disks[0].path: '/etc/shadow' is outside the allowed host path roots "
                 "(/var/lib/hal/images)");
  EXPECT_EQ(call(&v1::NodeAgent::Stub::GetVm, "shadow").error_code(), grpc::StatusCode::NOT_FOUND);
  shadow["disks"][0]["path"] = "/var/lib/hal/images/../../../../etc/shadow";
  expect_invalid(create_with("mock", shadow.dump()), "(/etc/shadow) is outside");

  // Duplicate: the backend's ALREADY_EXISTS, with its message.
  create("dup", false);
  grpc::Status dup = create_with("mock", mock_spec("dup").dump());
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(dup.error_message().find("dup"), std::string::npos);
}

TEST_F(NodeServiceTest, BackendErrorsMapOneToOneAndNeverCrashTheAgent) {
  create("pre", false);
  // Pausing a stopped VM: FAILED_PRECONDITION with the backend's message.
  grpc::Status status = call(&v1::NodeAgent::Stub::PauseVm, "pre");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("'pre'"), std::string::npos) << status.error_message();
  // No migration running: FAILED_PRECONDITION.
  v1::CancelMigrationRequest cancel;
  cancel.set_vm_id("pre");
  v1::CancelMigrationResponse cancelled;
  EXPECT_EQ(stub_->CancelMigration(deadline_context().get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Still serving.
  EXPECT_EQ(get("pre").state(), "Stopped");
}

TEST(NodeServiceFaultTest, FailedStartIsUnavailableAndLeavesTheVmCrashed) {
  TempDir dir;
  NodeAgent agent(mock_agent_options("faulty", dir.path(),
                                     {{"faults", {{"failStart", nlohmann::json{"boom"}}}}}));
  agent.start();
  auto stub = node_stub(agent.address());
  v1::CreateVmRequest request;
  request.set_backend("mock");
  request.set_spec_json(mock_spec("boom").dump());
  request.set_start(true);
  v1::VmStatus out;
  grpc::Status status = stub->CreateVm(deadline_context().get(), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("injected fault"), std::string::npos)
      << status.error_message();
  v1::VmRef ref;
  ref.set_vm_id("boom");
  ASSERT_TRUE(stub->GetVm(deadline_context().get(), ref, &out).ok());
  EXPECT_EQ(out.state(), "Crashed");
}

TEST_F(NodeServiceTest, MigrationBetweenTwoAgents) {
  NodeAgent target(mock_agent_options("node-b", dir_.path() / "b"));
  target.start();
  auto target_stub = node_stub(target.address());
  create("mig", true);

  // Bad params are named.
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend("mock");
  prepare.set_spec_json(mock_spec("mig").dump());
  prepare.set_params_json("{oops");
  v1::PrepareIncomingResponse endpoint;
  grpc::Status status = target_stub->PrepareIncoming(deadline_context().get(), prepare, &endpoint);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("params_json"), std::string::npos);

  prepare.set_params_json("");
  status = target_stub->PrepareIncoming(deadline_context().get(), prepare, &endpoint);
  ASSERT_TRUE(status.ok()) << status.error_message();
  nlohmann::json uri = nlohmann::json::parse(endpoint.endpoint_json());
  ASSERT_TRUE(uri.contains("uri"));
  EXPECT_EQ(get("mig", target_stub.get()).state(), "Incoming");

  v1::SendMigrationRequest send;
  send.set_vm_id("mig");
  send.set_params_json("{}");
  v1::VmStatus out;
  status = stub_->SendMigration(deadline_context().get(), send, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("params_json.uri"), std::string::npos);
  send.set_params_json(uri.dump());
  status = stub_->SendMigration(deadline_context().get(), send, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::string last;
  EXPECT_TRUE(wait_until(
      [&] {
        v1::VmRef ref;
        ref.set_vm_id("mig");
        v1::MigrationProgress progress;
        if (!stub_->GetMigrationProgress(deadline_context().get(), ref, &progress).ok())
          return false;
        EXPECT_EQ(progress.vm_id(), "mig");
        last = progress.progress_json();
        return nlohmann::json::parse(last).value("status", "") == "completed";
      },
      10s))
      << last;
  EXPECT_TRUE(wait_until([&] { return get("mig", target_stub.get()).state() == "Running"; }));
  EXPECT_TRUE(wait_until([&] { return get("mig").state() == "Migrated"; })) << get("mig").state();
}

// A target agent on a wildcard address listens for the migration on every interface and answers
// its advertised host (127.0.0.2 stands for another machine's address), which the source dials.
TEST_F(NodeServiceTest, MigrationEndpointIsTheTargetsAdvertisedHost) {
  NodeAgentOptions options = mock_agent_options("node-w", dir_.path() / "w");
  options.listen = "0.0.0.0:0";
  options.advertise = "127.0.0.2";
  NodeAgent target(options);
  target.start();
  auto target_stub = node_stub("127.0.0.1:" + std::to_string(target.port()));
  create("far", true);
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend("mock");
  prepare.set_spec_json(mock_spec("far").dump());
  v1::PrepareIncomingResponse endpoint;
  grpc::Status status = target_stub->PrepareIncoming(deadline_context().get(), prepare, &endpoint);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string uri = nlohmann::json::parse(endpoint.endpoint_json()).value("uri", "");
  EXPECT_TRUE(uri.starts_with("tcp:127.0.0.2:")) << uri;
  v1::SendMigrationRequest send;
  send.set_vm_id("far");
  send.set_params_json(endpoint.endpoint_json());
  v1::VmStatus out;
  status = stub_->SendMigration(deadline_context().get(), send, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(wait_until([&] { return get("far", target_stub.get()).state() == "Running"; }, 10s));
  // The target runs the guest before it acks; the source is Migrated once the ack arrives.
  EXPECT_TRUE(wait_until([&] { return get("far").state() == "Migrated"; }, 10s))
      << get("far").state();
}

// A listen uri the caller names is the backend's to use: the endpoint keeps its host.
TEST_F(NodeServiceTest, PrepareIncomingKeepsAListenUriTheCallerNames) {
  create("named", false);
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend("mock");
  prepare.set_spec_json(mock_spec("elsewhere").dump());
  prepare.set_params_json(R"({"uri":"tcp:127.0.0.3"})");
  v1::PrepareIncomingResponse endpoint;
  grpc::Status status = stub_->PrepareIncoming(deadline_context().get(), prepare, &endpoint);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(nlohmann::json::parse(endpoint.endpoint_json())
                  .value("uri", "")
                  .starts_with("tcp:127.0.0.3:"))
      << endpoint.endpoint_json();
}

TEST_F(NodeServiceTest, CancelMigration) {
  NodeAgent source(
      mock_agent_options("node-s", dir_.path() / "s", {{"faults", {{"migration", "stall"}}}}));
  source.start();
  auto source_stub = node_stub(source.address());
  NodeAgent target(mock_agent_options("node-t", dir_.path() / "t"));
  target.start();
  auto target_stub = node_stub(target.address());
  create("stuck", true, nullptr, source_stub.get());
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend("mock");
  prepare.set_spec_json(mock_spec("stuck").dump());
  v1::PrepareIncomingResponse endpoint;
  ASSERT_TRUE(target_stub->PrepareIncoming(deadline_context().get(), prepare, &endpoint).ok());
  v1::SendMigrationRequest send;
  send.set_vm_id("stuck");
  send.set_params_json(endpoint.endpoint_json());
  v1::VmStatus out;
  ASSERT_TRUE(source_stub->SendMigration(deadline_context().get(), send, &out).ok());
  v1::CancelMigrationRequest cancel;
  cancel.set_vm_id("stuck");
  v1::CancelMigrationResponse cancelled;
  grpc::Status status = source_stub->CancelMigration(deadline_context().get(), cancel, &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(wait_until([&] {
    v1::VmRef ref;
    ref.set_vm_id("stuck");
    v1::MigrationProgress progress;
    source_stub->GetMigrationProgress(deadline_context().get(), ref, &progress);
    return nlohmann::json::parse(progress.progress_json().empty() ? "{}" : progress.progress_json())
               .value("status", "") == "cancelled";
  }));
  EXPECT_EQ(get("stuck", source_stub.get()).state(), "Running");
}

TEST_F(NodeServiceTest, ConsoleOfABackendWithoutConsoleIsUnimplemented) {
  create("quiet", true);
  {
    auto context = deadline_context();
    auto stream = stub_->Console(context.get());
    v1::ConsoleChunk first;
    first.set_vm_id("quiet");
    stream->Write(first);
    stream->WritesDone();
    v1::ConsoleChunk chunk;
    EXPECT_FALSE(stream->Read(&chunk));
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(status.error_message().find("no console"), std::string::npos)
        << status.error_message();
    EXPECT_NE(status.error_message().find("mock"), std::string::npos) << status.error_message();
  }
  {
    auto context = deadline_context();
    auto stream = stub_->Console(context.get());
    v1::ConsoleChunk first;  // no vm_id
    stream->Write(first);
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("vm_id"), std::string::npos);
  }
}

}  // namespace
}  // namespace hal::node::testing
