// node_calls.h - the one path from the controller to a node's NodeAgent: a call is granted only
// with one of the node's call slots (node_call_slots.h) and runs with the controller's RPC
// deadline. Reconcile workers ask without blocking (their key waits for a slot); Controller API
// handlers wait for a slot up to a deadline.
#ifndef HAL_CONTROLLER_SERVER_NODE_CALLS_H
#define HAL_CONTROLLER_SERVER_NODE_CALLS_H

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "controller/server/node_call_slots.h"
#include "controller/server/node_connection.h"

namespace hal::controller {

class NodeRegistry;

/** A granted call to one node: its connection and the slot it holds until destroyed. */
class NodeCall {
 public:
  /** A NodeAgent method, e.g. &v1::NodeAgent::Stub::DeleteVm. */
  template <class Request, class Response>
  using Method = grpc::Status (v1::NodeAgent::Stub::*)(grpc::ClientContext *, const Request &,
                                                       Response *);

  /** Calls `method` with the controller's RPC deadline. */
  template <class Request, class Response>
  grpc::Status invoke(Method<Request, Response> method, const Request &request,
                      Response *response) {
    auto context = rpc_context(timeout_);
    return (connection_->stub().*method)(context.get(), request, response);
  }
  /** The connection, for its asynchronous graceful stop. */
  NodeConnection &connection() { return *connection_; }

 private:
  friend class NodeCalls;
  NodeCall(std::shared_ptr<NodeConnection> connection, NodeCallSlots::Slot slot,
           std::chrono::milliseconds timeout)
      : connection_(std::move(connection)), slot_(std::move(slot)), timeout_(timeout) {}
  std::shared_ptr<NodeConnection> connection_;
  NodeCallSlots::Slot slot_;
  std::chrono::milliseconds timeout_;
};

/** What asking for a call gave. */
struct NodeCallClaim {
  std::optional<NodeCall> call;  ///< Set when granted.
  /** No slot was free: a worker's key waits and is queued again when one frees (or looks again
   *  after kSlotRecheck); a waiting handler's deadline passed. False when the node has no
   *  connection. */
  bool busy = false;
};

/** Grants calls to nodes. Thread-safe. */
class NodeCalls {
 public:
  /** Calls to `registry`'s connections through `slots`, each with deadline `rpc_timeout`. */
  NodeCalls(NodeRegistry &registry, NodeCallSlots &slots, std::chrono::milliseconds rpc_timeout)
      : registry_(registry), slots_(slots), rpc_timeout_(rpc_timeout) {}

  /** For a reconcile worker handling `key`: a call now, or the reason there is none. */
  NodeCallClaim claim(const std::string &node, const std::string &key);
  /** For a caller that is not a worker: a call once a slot is free, waiting up to `timeout`. */
  NodeCallClaim wait(const std::string &node, const std::string &key,
                     std::chrono::milliseconds timeout);
  /** The deadline of each call. */
  std::chrono::milliseconds rpc_timeout() const { return rpc_timeout_; }

 private:
  NodeRegistry &registry_;
  NodeCallSlots &slots_;
  const std::chrono::milliseconds rpc_timeout_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_CALLS_H
