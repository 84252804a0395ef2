// fake_registry.h - a NodeRegistry for tests: records Register and Heartbeat calls, answers
// reregister=true to heartbeats from nodes (name + boot_id) it has not seen register, and can
// be started again on the same port to simulate a controller restart.
#ifndef HAL_CONTROLLER_NODE_TESTS_FAKE_REGISTRY_H
#define HAL_CONTROLLER_NODE_TESTS_FAKE_REGISTRY_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "hal/v1/node.grpc.pb.h"

namespace hal::node::testing {

/** A fake hal-controller NodeRegistry. */
class FakeRegistry final : public v1::NodeRegistry::Service {
 public:
  /** Serves on 127.0.0.1:`port` (0 = pick); answers heartbeat_interval_ms in Register. */
  explicit FakeRegistry(int port = 0, uint32_t heartbeat_interval_ms = 50);
  ~FakeRegistry() override;

  /** "127.0.0.1:<port>". */
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /** The bound port. */
  int port() const { return port_; }
  /** Stops serving (as if the controller died). */
  void shutdown();

  /** Copies of every Register request so far. */
  std::vector<v1::RegisterNodeRequest> registrations();
  /** Copies of every Heartbeat request so far. */
  std::vector<v1::HeartbeatRequest> heartbeats();
  /** Makes the next heartbeats of known nodes answer reregister=true as well. */
  void forget_nodes();

  grpc::Status Register(grpc::ServerContext *, const v1::RegisterNodeRequest *request,
                        v1::RegisterNodeResponse *response) override;
  grpc::Status Heartbeat(grpc::ServerContext *, const v1::HeartbeatRequest *request,
                         v1::HeartbeatResponse *response) override;

 private:
  uint32_t interval_ms_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::map<std::string, int64_t> known_;  // node name -> boot id
  std::vector<v1::RegisterNodeRequest> registrations_;
  std::vector<v1::HeartbeatRequest> heartbeats_;
};

}  // namespace hal::node::testing

#endif  // HAL_CONTROLLER_NODE_TESTS_FAKE_REGISTRY_H
