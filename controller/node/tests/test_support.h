// test_support.h - helpers for hal-node tests: mock-backed agent options, a client
// stub on a real channel, minimal HAL specs, waiting for conditions.
#ifndef HAL_CONTROLLER_NODE_TESTS_TEST_SUPPORT_H
#define HAL_CONTROLLER_NODE_TESTS_TEST_SUPPORT_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/node/agent_options.h"
#include "hal/v1/node.grpc.pb.h"
#include "testing/temp_dir.h"

namespace hal::node::testing {

/** A directory under /tmp removed recursively at destruction (testing/temp_dir.h). */
using hal::testing::TempDir;

/** The directory holding libhal-mock.so and its manifest. */
std::filesystem::path mock_plugin_dir();

/** Options for an agent named `name` in pool "mock" running the mock backend with `config`,
 *  its state under `state_dir`, listening on 127.0.0.1:0. */
NodeAgentOptions mock_agent_options(const std::string &name, const std::filesystem::path &state_dir,
                                    nlohmann::json config = nlohmann::json::object());

/** A NodeAgent stub on a fresh channel to `address`. */
std::unique_ptr<v1::NodeAgent::Stub> node_stub(const std::string &address);
/** A NodeAgent stub for `address` over `credentials` (a TLS node agent). */
std::unique_ptr<v1::NodeAgent::Stub> node_stub(
    const std::string &address, const std::shared_ptr<grpc::ChannelCredentials> &credentials);

/** A minimal valid HAL VM spec called `name`. */
nlohmann::json mock_spec(const std::string &name);

/** Polls `pred` every 10 ms until it is true or `timeout` passes; returns its last value. */
bool wait_until(const std::function<bool()> &pred,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

/** A client context with a `timeout` deadline. */
std::unique_ptr<grpc::ClientContext> deadline_context(
    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

}  // namespace hal::node::testing

#endif  // HAL_CONTROLLER_NODE_TESTS_TEST_SUPPORT_H
