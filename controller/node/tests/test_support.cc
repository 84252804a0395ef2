// test_support.cc - hal-node test helpers (see test_support.h).
#include "controller/node/tests/test_support.h"

#include <grpcpp/grpcpp.h>

#include <thread>
#include <vector>

namespace hal::node::testing {

std::filesystem::path mock_plugin_dir() {
  return std::filesystem::path(HAL_NODE_MOCK_PLUGIN).parent_path();
}

NodeAgentOptions mock_agent_options(const std::string &name, const std::filesystem::path &state_dir,
                                    nlohmann::json config) {
  NodeAgentOptions options;
  options.node_name = name;
  options.pool = "mock";
  options.backends.push_back(BackendOptions{"mock", std::move(config)});
  options.state_dir = state_dir;
  options.plugin_path = {mock_plugin_dir()};
  options.listen = "127.0.0.1:0";
  options.stop_grace = std::chrono::milliseconds(200);
  return options;
}

std::unique_ptr<v1::NodeAgent::Stub> node_stub(const std::string &address) {
  return v1::NodeAgent::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::NodeAgent::Stub> node_stub(
    const std::string &address, const std::shared_ptr<grpc::ChannelCredentials> &credentials) {
  return v1::NodeAgent::NewStub(grpc::CreateChannel(address, credentials));
}

nlohmann::json mock_spec(const std::string &name) {
  return {{"apiVersion", "hal.dev/v1"},
          {"name", name},
          {"cpu", {{"vcpus", 1}}},
          {"memory", {{"size", "64Mi"}}}};
}

bool wait_until(const std::function<bool()> &pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::unique_ptr<grpc::ClientContext> deadline_context(std::chrono::milliseconds timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

}  // namespace hal::node::testing
