// registrar.cc - NodeRegistry registration and heartbeat loop (see registrar.h).
#include "controller/node/registrar.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "core/log/log.h"

namespace hal::node {
namespace {

constexpr std::chrono::milliseconds kRpcTimeout{3000};
constexpr std::chrono::milliseconds kFirstBackoff{100};

}  // namespace

Registrar::Registrar(Config config) : config_(std::move(config)) {
  grpc::ChannelArguments args;
  // Reconnect quickly once the controller is back (gRPC's default back-off reaches 120 s).
  const int max_backoff = static_cast<int>(std::max<int64_t>(config_.max_backoff.count(), 100));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, max_backoff));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(100, max_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff);
  auto credentials = config_.credentials ? config_.credentials : grpc::InsecureChannelCredentials();
  channel_ = grpc::CreateCustomChannel(config_.controller, credentials, args);
  stub_ = v1::NodeRegistry::NewStub(channel_);
  stats_.interval = config_.heartbeat_interval;
}

Registrar::~Registrar() {
  stop();
}

void Registrar::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Registrar::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

RegistrarStats Registrar::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool Registrar::sleep_for(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, delay, [&] { return stopping_; });
}

bool Registrar::do_register() {
  v1::RegisterNodeRequest request = config_.registration();
  v1::RegisterNodeResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    in_flight_ = &context;
  }
  grpc::Status status = stub_->Register(&context, request, &response);
  std::lock_guard lock(mu_);
  in_flight_ = nullptr;
  if (!status.ok()) {
    ++stats_.failures;
    stats_.registered = false;
    // Warn once per outage; the retries after it are logged at debug level.
    hal::log("node")->log(failing_ ? spdlog::level::debug : spdlog::level::warn,
                          "node {}: Register with {} failed: {} ({}); retrying with back-off",
                          config_.node_name, config_.controller, status.error_message(),
                          static_cast<int>(status.error_code()));
    failing_ = true;
    return false;
  }
  failing_ = false;
  ++stats_.registrations;
  stats_.registered = true;
  if (response.heartbeat_interval_ms() > 0)
    stats_.interval = std::chrono::milliseconds(response.heartbeat_interval_ms());
  hal::log("node")->info("node {}: registered with {} ({} VMs), heartbeat every {} ms",
                         config_.node_name, config_.controller, request.vms_size(),
                         stats_.interval.count());
  return true;
}

bool Registrar::do_heartbeat() {
  v1::HeartbeatRequest request;
  request.set_node_name(config_.node_name);
  request.set_boot_id(config_.boot_id);
  request.set_last_event_sequence(config_.last_event_sequence ? config_.last_event_sequence() : 0);
  v1::HeartbeatResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    in_flight_ = &context;
  }
  grpc::Status status = stub_->Heartbeat(&context, request, &response);
  std::lock_guard lock(mu_);
  in_flight_ = nullptr;
  if (!status.ok()) {
    ++stats_.failures;
    stats_.registered = false;
    hal::log("node")->warn("node {}: Heartbeat to {} failed: {}; registering again",
                           config_.node_name, config_.controller, status.error_message());
    return false;
  }
  ++stats_.heartbeats;
  if (response.reregister()) {
    stats_.registered = false;
    hal::log("node")->info("node {}: controller asked to register again", config_.node_name);
    return false;
  }
  return true;
}

void Registrar::run() {
  std::chrono::milliseconds backoff = kFirstBackoff;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!do_register()) {
      if (!sleep_for(backoff)) return;
      backoff = std::min(backoff * 2, std::max(config_.max_backoff, kFirstBackoff));
      continue;
    }
    backoff = kFirstBackoff;
    while (true) {
      if (!sleep_for(stats().interval)) return;
      if (!do_heartbeat()) break;
    }
  }
}

}  // namespace hal::node
