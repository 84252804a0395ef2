// fake_registry.cc - the fake NodeRegistry (see fake_registry.h).
#include "controller/node/tests/fake_registry.h"

#include <stdexcept>

namespace hal::node::testing {

FakeRegistry::FakeRegistry(int port, uint32_t heartbeat_interval_ms)
    : interval_ms_(heartbeat_interval_ms) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    throw std::runtime_error("fake registry: cannot listen on port " + std::to_string(port));
}

FakeRegistry::~FakeRegistry() {
  shutdown();
}

void FakeRegistry::shutdown() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  server_->Wait();
  server_.reset();
}

std::vector<v1::RegisterNodeRequest> FakeRegistry::registrations() {
  std::lock_guard lock(mu_);
  return registrations_;
}

std::vector<v1::HeartbeatRequest> FakeRegistry::heartbeats() {
  std::lock_guard lock(mu_);
  return heartbeats_;
}

void FakeRegistry::forget_nodes() {
  std::lock_guard lock(mu_);
  known_.clear();
}

grpc::Status FakeRegistry::Register(grpc::ServerContext *, const v1::RegisterNodeRequest *request,
                                    v1::RegisterNodeResponse *response) {
  std::lock_guard lock(mu_);
  registrations_.push_back(*request);
  known_[request->node().name()] = request->node().boot_id();
  response->set_heartbeat_interval_ms(interval_ms_);
  return grpc::Status::OK;
}

grpc::Status FakeRegistry::Heartbeat(grpc::ServerContext *, const v1::HeartbeatRequest *request,
                                     v1::HeartbeatResponse *response) {
  std::lock_guard lock(mu_);
  heartbeats_.push_back(*request);
  auto it = known_.find(request->node_name());
  response->set_reregister(it == known_.end() || it->second != request->boot_id());
  return grpc::Status::OK;
}

}  // namespace hal::node::testing
