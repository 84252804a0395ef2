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

NodeConnection::NodeConnection(std::string node, std::string address, EventCallback on_event,
                               std::shared_ptr<EventPoller> poller)
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
  channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::NodeAgent::NewStub(channel_);
}

NodeConnection::~NodeConnection() {
  stop_events();
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
  hal::log("controller")
      ->debug("node {}: event stream ended ({}); reopening", node_, status.error_message());
  pause_ = std::make_unique<grpc::Alarm>();
  pausing_ = true;
  pause_->Set(poller_->queue(), std::chrono::system_clock::now() + kReopenPause, &pause_tag_);
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
