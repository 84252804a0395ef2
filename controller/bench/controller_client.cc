// controller_client.cc - the benchmarks' Controller client (see controller_client.h).
#include "controller/bench/controller_client.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace hal::bench {

ControllerClient::ControllerClient(const std::string &address,
                                   std::shared_ptr<grpc::ChannelCredentials> credentials)
    : channel_(grpc::CreateChannel(address, std::move(credentials))),
      stub_(hal::v1::Controller::NewStub(channel_)) {}

ControllerClient::~ControllerClient() {
  watch_context_.TryCancel();
  if (watcher_.joinable()) watcher_.join();
}

void ControllerClient::apply(const std::string &manifest) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  hal::v1::ApplyRequest request;
  request.set_manifest(manifest);
  hal::v1::ApplyResponse response;
  auto status = stub_->Apply(&context, request, &response);
  if (!status.ok()) throw std::runtime_error("apply: " + status.error_message());
}

void ControllerClient::get(const std::string &kind, const std::string &ns,
                           const std::string &name) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  hal::v1::ObjectKey key;
  key.set_kind(kind);
  key.set_namespace_(ns);
  key.set_name(name);
  hal::v1::Object object;
  auto status = stub_->Get(&context, key, &object);
  if (!status.ok()) throw std::runtime_error("get: " + status.error_message());
}

grpc::Status ControllerClient::remove(const std::string &kind, const std::string &ns,
                                      const std::string &name) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  hal::v1::ObjectKey key;
  key.set_kind(kind);
  key.set_namespace_(ns);
  key.set_name(name);
  hal::v1::DeleteResponse response;
  return stub_->Delete(&context, key, &response);
}

int64_t ControllerClient::revision(const std::string &kind) {
  grpc::ClientContext context;
  hal::v1::ListRequest request;
  request.set_kind(kind);
  hal::v1::ListResponse response;
  auto status = stub_->List(&context, request, &response);
  if (!status.ok()) throw std::runtime_error("list: " + status.error_message());
  return response.resource_version();
}

size_t ControllerClient::count(const std::string &kind) {
  grpc::ClientContext context;
  hal::v1::ListRequest request;
  request.set_kind(kind);
  hal::v1::ListResponse response;
  auto status = stub_->List(&context, request, &response);
  if (!status.ok()) throw std::runtime_error("list: " + status.error_message());
  return static_cast<size_t>(response.objects_size());
}

void ControllerClient::watch_phase(const std::string &phase) {
  int64_t since = revision("VirtualMachineInstance");
  watcher_ = std::thread([this, phase, since] {
    hal::v1::WatchRequest request;
    request.set_kind("VirtualMachineInstance");
    request.set_since_resource_version(since);
    auto reader = stub_->Watch(&watch_context_, request);
    hal::v1::WatchEvent event;
    while (reader->Read(&event)) {
      auto now = Clock::now();
      if (event.type() == "DELETED") continue;
      auto object = nlohmann::json::parse(event.object().json(), nullptr, false);
      if (object.is_discarded() || !object.contains("status")) continue;
      if (object["status"].value("phase", "") != phase) continue;
      std::lock_guard lock(mutex_);
      if (reached_.emplace(event.object().name(), now).second) changed_.notify_all();
    }
    reader->Finish();
  });
}

bool ControllerClient::wait_reached(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return reached_.size() >= n; });
}

Clock::time_point ControllerClient::reached_at(const std::string &name) {
  std::lock_guard lock(mutex_);
  auto it = reached_.find(name);
  return it == reached_.end() ? Clock::time_point{} : it->second;
}

}  // namespace hal::bench
