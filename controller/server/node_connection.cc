// node_connection.cc - channel, stub and event stream consumer for one node.
#include "controller/server/node_connection.h"

#include "core/log/log.h"

namespace hal::controller {

std::unique_ptr<grpc::ClientContext> rpc_context(std::chrono::milliseconds timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

NodeConnection::NodeConnection(std::string node, std::string address, EventCallback on_event)
    : node_(std::move(node)), address_(std::move(address)), on_event_(std::move(on_event)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt("grpc.initial_reconnect_backoff_ms", 100);
  args.SetInt("grpc.max_reconnect_backoff_ms", 1000);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 * 1024 * 1024);
  channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::NodeAgent::NewStub(channel_);
}

NodeConnection::~NodeConnection() {
  stop_events();
}

void NodeConnection::start_events() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run_events(); });
}

void NodeConnection::stop_events() {
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void NodeConnection::run_events() {
  auto log = hal::log("controller");
  while (!stopping_) {
    grpc::ClientContext context;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      context_ = &context;
    }
    v1::WatchEventsRequest request;
    request.set_since_sequence(last_sequence_.load());
    auto reader = stub_->WatchEvents(&context, request);
    v1::NodeEvent event;
    while (reader->Read(&event)) {
      last_sequence_ = event.sequence();
      on_event_(event);
    }
    grpc::Status status = reader->Finish();
    {
      std::lock_guard lock(mutex_);
      context_ = nullptr;
    }
    if (stopping_) break;
    log->debug("node {}: event stream ended ({}); reconnecting", node_, status.error_message());
    for (int i = 0; i < 20 && !stopping_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace hal::controller
