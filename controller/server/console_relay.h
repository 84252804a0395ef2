// console_relay.h - Controller.Console: the controller relays a user's serial console session to
// the NodeAgent.Console of the node running the VM, calling the node as itself (as the
// Kubernetes API server proxies exec/attach to the kubelet), so users never dial a node and a
// node serves only the controller. Both sides run on gRPC's callback API (no thread per
// session). Buffering is bounded: each direction holds at most one message, and the next one is
// read only when the previous one was written on, so a slow side slows the other through gRPC
// flow control. A side that takes nothing for `stall`, a node that does not open the console in
// time, or too many sessions end the call with a status that says so; when the client goes, the
// node's call is cancelled.
#ifndef HAL_CONTROLLER_SERVER_CONSOLE_RELAY_H
#define HAL_CONTROLLER_SERVER_CONSOLE_RELAY_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "hal/v1/controller.grpc.pb.h"
#include "hal/v1/node.grpc.pb.h"

namespace hal::controller {

/** Where a console session goes. */
struct ConsoleTarget {
  std::string node;                        ///< The node running the VM (logs, messages).
  std::shared_ptr<grpc::Channel> channel;  ///< The controller's channel to that node.
  std::string vm_id;                       ///< The VM's HAL id on the node.
  std::string label;                       ///< "namespace/name" of the VMI (logs).
  std::string caller;                      ///< Who opened the session (logs).
};

/** Decides a session from its first message (names the VMI): fills `target` and answers OK, or
 *  answers the status refusing it (unauthorised, not found, not scheduled). Runs on a gRPC
 *  callback thread; it must not block for long. */
using ConsoleResolver =
    std::function<grpc::Status(const grpc::CallbackServerContext &context,
                               const v1::ConsoleInput &first, ConsoleTarget &target)>;

/** The relay's bounds. */
struct ConsoleRelayLimits {
  std::size_t max_sessions = 64;            ///< Open sessions; more get RESOURCE_EXHAUSTED.
  std::size_t max_input_bytes = 64 * 1024;  ///< Largest client message (INVALID_ARGUMENT).
  std::chrono::milliseconds stall{30000};   ///< A write pending this long ends the session.
  std::chrono::milliseconds attach{15000};  ///< The node must open the console within this.
  std::chrono::milliseconds tick{250};      ///< How often the watchdog checks sessions.
};

/** The relay: one per Controller service. Thread-safe. */
class ConsoleRelay {
 public:
  /** A relay resolving sessions with `resolve`. Starts its watchdog thread. */
  explicit ConsoleRelay(ConsoleResolver resolve, ConsoleRelayLimits limits = {});
  /** Ends every session (shutdown()) and waits, a few seconds at most, for them to end. */
  ~ConsoleRelay();
  ConsoleRelay(const ConsoleRelay &) = delete;
  ConsoleRelay &operator=(const ConsoleRelay &) = delete;

  /** The reactor serving one Controller.Console call (gRPC owns it until its OnDone). */
  grpc::ServerBidiReactor<v1::ConsoleInput, v1::ConsoleOutput> *open(
      grpc::CallbackServerContext *context);
  /** Ends every open session (UNAVAILABLE) and refuses new ones. */
  void shutdown();
  /** Sessions whose calls have not ended yet (client or node side). */
  std::size_t sessions() const;

 private:
  class Session;
  void forget(const Session *session);
  void watch();

  ConsoleResolver resolve_;
  ConsoleRelayLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<const Session *, std::weak_ptr<Session>> sessions_;
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_CONSOLE_RELAY_H
