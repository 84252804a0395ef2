// node_connection.h - the controller's link to one hal-node: a gRPC channel and NodeAgent stub,
// plus the node's WatchEvents stream, read asynchronously on an EventPoller that the streams of
// all nodes share (instead of one blocked thread per node). A broken stream is opened again
// after a short pause, from the last sequence received; how long the node has been unreachable
// since its stream broke tells that its agent is gone within seconds (an agent killed, or
// restarting), long before heartbeats are missed for the grace period. Graceful stops, which may
// take a guest's whole grace period, are also sent on the poller rather than holding a caller's
// thread.
#ifndef HAL_CONTROLLER_SERVER_NODE_CONNECTION_H
#define HAL_CONTROLLER_SERVER_NODE_CONNECTION_H

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "controller/server/event_poller.h"
#include "hal/v1/node.grpc.pb.h"

namespace hal::controller {

/** One node's channel, stub and event stream. */
class NodeConnection {
 public:
  /** Receives each event of the node's stream, in order, on the poller's thread: keep it short,
   *  and do not stop a connection from it. */
  using EventCallback = std::function<void(const v1::NodeEvent &event)>;

  /** Connects (lazily) to `address` with `credentials` (plaintext when null); events go to
   *  `on_event` once start_events() is called. The stream runs on `poller` (a poller of its own
   *  when null). */
  NodeConnection(std::string node, std::string address, EventCallback on_event,
                 std::shared_ptr<EventPoller> poller = nullptr,
                 std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);
  /** Stops the event stream and cancels the pending graceful stops. */
  ~NodeConnection();
  NodeConnection(const NodeConnection &) = delete;
  NodeConnection &operator=(const NodeConnection &) = delete;

  /** Starts consuming WatchEvents (from now). */
  void start_events();
  /** Cancels the event stream (or its pending reopening) and waits until it has ended. */
  void stop_events();

  /** Called once with the node's answer to stop_vm_async (CANCELLED if the connection was
   *  stopped first), on the poller's thread: keep it short. */
  using StopCallback = std::function<void(const grpc::Status &status)>;
  /** Sends StopVm for `vm_id` (ACPI power-off, forced by the node after `grace`) and returns at
   *  once; `done` gets the answer. The call's deadline is `grace` plus `rpc_timeout`. */
  void stop_vm_async(const std::string &vm_id, std::chrono::milliseconds grace,
                     std::chrono::milliseconds rpc_timeout, StopCallback done);
  /** Cancels every pending stop_vm_async call and waits until their callbacks have run. */
  void cancel_stops();
  /** Both: ends the event stream and the pending stops (the connection is done with). */
  void close();

  /** The NodeAgent stub (thread-safe). */
  v1::NodeAgent::Stub &stub() { return *stub_; }
  /** The node's NodeAgent address. */
  const std::string &address() const { return address_; }
  /** The channel to the node (the console relay opens its streams on it). */
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  /** Sequence of the last event received. */
  uint64_t last_sequence() const { return last_sequence_.load(); }
  /** How long the node has been unreachable: since its event stream broke, while the channel
   *  has not connected again; nullopt while the stream runs or the channel is connected. */
  std::optional<std::chrono::steady_clock::duration> unreachable_for();

 private:
  struct EventStream;
  struct PendingStop;

  // Opens a stream from last_sequence_ (mutex_ held).
  void open_stream();
  // The poller's handlers for the stream's operations and for the pause.
  void started(bool ok);
  void read(bool ok);
  void finished();
  void pause_ended();

  std::string node_;
  std::string address_;
  EventCallback on_event_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::NodeAgent::Stub> stub_;
  std::shared_ptr<EventPoller> poller_;
  std::atomic<uint64_t> last_sequence_{0};

  std::mutex mutex_;
  std::condition_variable idle_;         ///< Signalled when the stream or pause ends.
  bool running_ = false;                 ///< Between start_events() and stop_events().
  std::unique_ptr<EventStream> stream_;  ///< The open stream, until its Finish completes.
  std::unique_ptr<grpc::Alarm> pause_;   ///< The pause before reopening a broken stream.
  bool pausing_ = false;                 ///< pause_ is set and has not completed.
  /// When the event stream broke, until the channel is seen connected again.
  std::optional<std::chrono::steady_clock::time_point> broken_since_;
  EventPoller::Tag started_tag_, read_tag_, finished_tag_, pause_tag_;
  std::list<PendingStop> stops_;  ///< stop_vm_async calls not yet answered.
};

/** A client context with a deadline `timeout` from now. */
std::unique_ptr<grpc::ClientContext> rpc_context(std::chrono::milliseconds timeout);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_CONNECTION_H
