// node_connection.h - the controller's link to one hal-node: a gRPC channel and NodeAgent stub,
// plus a thread consuming the node's WatchEvents stream (resuming from the last sequence after
// a broken stream) that hands every event to a callback.
#ifndef HAL_CONTROLLER_SERVER_NODE_CONNECTION_H
#define HAL_CONTROLLER_SERVER_NODE_CONNECTION_H

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "hal/v1/node.grpc.pb.h"

namespace hal::controller {

/** One node's channel, stub and event stream. */
class NodeConnection {
 public:
  /** Receives each event of the node's stream (on the stream thread). */
  using EventCallback = std::function<void(const v1::NodeEvent &event)>;

  /** Connects (lazily) to `address`; events go to `on_event` once start_events() is called. */
  NodeConnection(std::string node, std::string address, EventCallback on_event);
  /** Stops the event stream. */
  ~NodeConnection();
  NodeConnection(const NodeConnection &) = delete;
  NodeConnection &operator=(const NodeConnection &) = delete;

  /** Starts consuming WatchEvents (from now). */
  void start_events();
  /** Cancels the event stream and joins its thread. */
  void stop_events();

  /** The NodeAgent stub (thread-safe). */
  v1::NodeAgent::Stub &stub() { return *stub_; }
  /** The node's NodeAgent address. */
  const std::string &address() const { return address_; }
  /** Sequence of the last event received. */
  uint64_t last_sequence() const { return last_sequence_.load(); }

 private:
  void run_events();

  std::string node_;
  std::string address_;
  EventCallback on_event_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::NodeAgent::Stub> stub_;
  std::mutex mutex_;
  grpc::ClientContext *context_ = nullptr;  ///< The stream's context while it is open.
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> last_sequence_{0};
  std::thread thread_;
};

/** A client context with a deadline `timeout` from now. */
std::unique_ptr<grpc::ClientContext> rpc_context(std::chrono::milliseconds timeout);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_CONNECTION_H
