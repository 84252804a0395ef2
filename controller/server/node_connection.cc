// node_connection.cc - channel, stub and the asynchronous event stream for one node.
#include "controller/server/node_connection.h"

#include "core/log/log.h"

namespace hal::controller {

namespace {

// The pause before a broken event stream is opened again.
constexpr std::chrono::milliseconds kReopenPause{200};

}  // namespace

std::unique_ptr<grpc::ClientContext> rpc_context(std::chrono::milliseconds timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

/** One WatchEvents call. Its operations run one at a time (each starts the next), so its
 *  members are only touched by the poller's thread, and by open_stream()/stop_events() under
 *  the connection's mutex before or around them. */
struct NodeConnection::EventStream {
  grpc::ClientContext context;
  v1::WatchEventsRequest request;
  v1::NodeEvent event;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncReader<v1::NodeEvent>> reader;
};

/** One stop_vm_async call; it stays in stops_ (a list, so its address is stable) until its
 *  answer has been handed to `done`. */
struct NodeConnection::PendingStop {
  grpc::ClientContext context;
  v1::StopVmRequest request;
  v1::VmStatus answer;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::VmStatus>> reader;
  StopCallback done;
  EventPoller::Tag finished;
};

NodeConnection::NodeConnection(std::string node, std::string address, EventCallback on_event,
                               std::shared_ptr<EventPoller> poller,
                               std::shared_ptr<grpc::ChannelCredentials> credentials)
    : node_(std::move(node)),
      address_(std::move(address)),
      on_event_(std::move(on_event)),
      poller_(poller ? std::move(poller) : std::make_shared<EventPoller>()),
      started_tag_{[this](bool ok) { started(ok); }},
      read_tag_{[this](bool ok) { read(ok); }},
      finished_tag_{[this](bool) { finished(); }},
      pause_tag_{[this](bool) { pause_ended(); }} {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt("grpc.initial_reconnect_backoff_ms", 100);
  args.SetInt("grpc.max_reconnect_backoff_ms", 1000);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 * 1024 * 1024);
  if (!credentials) credentials = grpc::InsecureChannelCredentials();
  channel_ = grpc::CreateCustomChannel(address_, credentials, args);
  stub_ = v1::NodeAgent::NewStub(channel_);
}

NodeConnection::~NodeConnection() {
  close();
}

void NodeConnection::close() {
  stop_events();
  cancel_stops();
}

void NodeConnection::start_events() {
  std::lock_guard lock(mutex_);
  if (running_) return;
  running_ = true;
  if (!stream_ && !pausing_) open_stream();  // Else the end of the last one reopens.
}

void NodeConnection::stop_events() {
  std::unique_lock lock(mutex_);
  running_ = false;
  if (stream_) stream_->context.TryCancel();  // Its Finish completes soon after.
  if (pausing_) pause_->Cancel();             // Completes at once, not fired.
  idle_.wait(lock, [&] { return !stream_ && !pausing_; });
}

void NodeConnection::stop_vm_async(const std::string &vm_id, std::chrono::milliseconds grace,
                                   std::chrono::milliseconds rpc_timeout, StopCallback done) {
  std::lock_guard lock(mutex_);
  PendingStop &stop = stops_.emplace_back();
  auto where = std::prev(stops_.end());
  stop.context.set_deadline(std::chrono::system_clock::now() + grace + rpc_timeout);
  stop.request.set_vm_id(vm_id);
  stop.request.set_timeout_ms(static_cast<uint32_t>(grace.count()));
  stop.done = std::move(done);
  stop.finished.handler = [this, where](bool) {
    try {
      where->done(where->status);
    } catch (const std::exception &e) {
      hal::log("controller")
          ->error("node {}: handling the answer to StopVm failed: {}", node_, e.what());
    }
    // Erasing the entry destroys this closure too: nothing of it may be used after that.
    NodeConnection *connection = this;
    std::lock_guard lock(connection->mutex_);
    connection->stops_.erase(where);
    connection->idle_.notify_all();
  };
  stop.reader = stub_->PrepareAsyncStopVm(&stop.context, stop.request, poller_->queue());
  stop.reader->StartCall();
  stop.reader->Finish(&stop.answer, &stop.status, &stop.finished);
}

void NodeConnection::cancel_stops() {
  std::unique_lock lock(mutex_);
  for (PendingStop &stop : stops_) stop.context.TryCancel();
  idle_.wait(lock, [&] { return stops_.empty(); });
}

void NodeConnection::open_stream() {
  stream_ = std::make_unique<EventStream>();
  stream_->request.set_since_sequence(last_sequence_.load());
  stream_->reader =
      stub_->PrepareAsyncWatchEvents(&stream_->context, stream_->request, poller_->queue());
  stream_->reader->StartCall(&started_tag_);
}

void NodeConnection::started(bool ok) {
  std::lock_guard lock(mutex_);
  if (ok) {
    stream_->reader->Read(&stream_->event, &read_tag_);
  } else {
    stream_->reader->Finish(&stream_->status, &finished_tag_);
  }
}

void NodeConnection::read(bool ok) {
  EventStream *stream;
  {
    std::lock_guard lock(mutex_);
    stream = stream_.get();
    if (!ok) {  // The stream is over.
      stream->reader->Finish(&stream->status, &finished_tag_);
      return;
    }
  }
  // Not under the mutex: the callback may take other locks. Only this thread touches `event`.
  last_sequence_ = stream->event.sequence();
  try {
    on_event_(stream->event);
  } catch (const std::exception &e) {
    hal::log("controller")
        ->error("node {}: handling event {} failed: {}", node_, stream->event.sequence(), e.what());
  }
  std::lock_guard lock(mutex_);
  stream->reader->Read(&stream->event, &read_tag_);
}

void NodeConnection::finished() {
  std::lock_guard lock(mutex_);
  const grpc::Status status = stream_->status;
  stream_.reset();
  if (!running_) {
    idle_.notify_all();
    return;
  }
  if (!broken_since_) broken_since_ = std::chrono::steady_clock::now();
  hal::log("controller")
      ->debug("node {}: event stream ended ({}); reopening", node_, status.error_message());
  pause_ = std::make_unique<grpc::Alarm>();
  pausing_ = true;
  pause_->Set(poller_->queue(), std::chrono::system_clock::now() + kReopenPause, &pause_tag_);
}

std::optional<std::chrono::steady_clock::duration> NodeConnection::unreachable_for() {
  std::lock_guard lock(mutex_);
  if (!broken_since_) return std::nullopt;
  if (channel_->GetState(false) == GRPC_CHANNEL_READY) {  // connected again
    broken_since_.reset();
    return std::nullopt;
  }
  return std::chrono::steady_clock::now() - *broken_since_;
}

void NodeConnection::pause_ended() {
  std::lock_guard lock(mutex_);
  pausing_ = false;
  if (running_) {
    open_stream();  // Also after a stop and a new start during the pause.
  } else {
    idle_.notify_all();
  }
}

}  // namespace hal::controller
