// node_agent.h - hal-node as a library: NodeAgent loads the node's backends (re-adopting their
// VMs), serves the NodeAgent gRPC service, fans backend events out to WatchEvents streams and
// keeps the node registered with hal-controller. Many agents can run in one process (tests,
// benchmarks); the hal-node program runs one.
#ifndef HAL_CONTROLLER_NODE_NODE_AGENT_H
#define HAL_CONTROLLER_NODE_NODE_AGENT_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/node/agent_options.h"
#include "controller/node/registrar.h"
#include "hal/v1/node.pb.h"

namespace hal::node {

/** One node agent. start() and stop() are not thread-safe with each other; everything else is. */
class NodeAgent {
 public:
  /** An agent configured by `options` (nothing runs until start()). */
  explicit NodeAgent(NodeAgentOptions options);
  /** Stops the agent (VMs keep running). */
  ~NodeAgent();
  NodeAgent(const NodeAgent &) = delete;
  NodeAgent &operator=(const NodeAgent &) = delete;

  /** Loads and opens the backends (re-adopting VMs from their state dirs), starts serving and,
   *  with a controller address, registering. Throws hal::Error naming what failed (a backend
   *  that cannot load, a listen address that cannot be bound). */
  void start();

  /** Stops registering and serving (open streams get options().stop_grace to finish) and
   *  closes the backends with HAL_CLOSE_KEEP_VMS: VMs keep running for the next agent. */
  void stop();

  /** True between start() and stop(). */
  bool running() const;
  /** The address NodeAgent is reached at and registered with: "host:port", the advertised one
   *  or the listen host with the port actually bound (advertised_address.h). */
  std::string address() const;
  /** The port actually bound. */
  int port() const;
  /** Random per start(); changes when the agent restarts. */
  int64_t boot_id() const;
  /** The options it was built with. */
  const NodeAgentOptions &options() const { return options_; }
  /** What GetNodeInfo answers (valid while running). */
  v1::NodeInfo node_info() const;
  /** Registration counters (all zero without a controller). */
  RegistrarStats registration() const;
  /** The sequence number of the last event published. */
  uint64_t last_event_sequence() const;
  /** WatchEvents streams subscribed now (a registered controller holds one). */
  std::size_t event_watchers() const;

 private:
  struct Running;

  NodeAgentOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<Running> running_;
};

/** The labels a node carries: `options.labels` plus hal.dev/pool=<pool> and
 *  kubernetes.io/hostname=<node name>. */
std::map<std::string, std::string> node_labels(const NodeAgentOptions &options);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_NODE_AGENT_H
