// node_registry.h - the NodeRegistry gRPC service and the controller's table of nodes: nodes
// register with their capabilities, topology, labels and running VMs (stored as hal.dev/v1 Node
// objects), heartbeat, and are declared NotReady when heartbeats stop for the grace period. The
// registry keeps one NodeConnection per node and the VM states nodes report (register lists
// and events), and tells a listener about everything that needs reconciling.
#ifndef HAL_CONTROLLER_SERVER_NODE_REGISTRY_H
#define HAL_CONTROLLER_SERVER_NODE_REGISTRY_H

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/server/node_connection.h"
#include "controller/server/node_snapshot.h"
#include "controller/server/observed_vms.h"
#include "controller/server/scheduler.h"
#include "controller/store/store.h"
#include "controller/tls/node_credentials.h"
#include "controller/tls/peer_policy.h"
#include "hal/v1/node.grpc.pb.h"

namespace hal::controller {

/** What the registry reports to the controller (called without registry locks held). */
class NodeListener {
 public:
  virtual ~NodeListener() = default;
  /** `node` registered (first time, after its restart, or after being NotReady) and reports
   *  exactly the VMs `vm_ids`. */
  virtual void node_registered(const std::string &node, const std::vector<std::string> &vm_ids) = 0;
  /** `node` missed heartbeats for the grace period (or never re-registered after a controller
   *  restart); it is now NotReady. */
  virtual void node_not_ready(const std::string &node) = 0;
  /** An event from `node`'s stream (observed state already updated). */
  virtual void node_event(const std::string &node, const v1::NodeEvent &event) = 0;
  /** Node restriction: the node `vm_id` is assigned to when `node` has no part in it, else "".
   *  The registry keeps such a VM in `node`'s own observed list (so it is removed from there as
   *  an orphan) but neither reports it at registration nor passes its events on. */
  virtual std::string vm_assigned_elsewhere(const std::string & /*node*/,
                                            const std::string & /*vm_id*/) const {
    return "";
  }
};

/** Registry timing. */
struct NodeRegistryOptions {
  std::chrono::milliseconds heartbeat_interval{1000};  ///< Told to nodes at Register.
  std::chrono::milliseconds grace_period{10000};       ///< Missed for this long → NotReady.
  std::chrono::milliseconds status_flush{30000};       ///< Max age of stored heartbeat time.
  /// How the controller dials each node (its TLS identity, checking the node's: see
  /// tls/node_credentials.h); null: plaintext.
  tls::NodeCredentials node_credentials;
  /// Who may register and heartbeat as a node (on TLS: that node's own certificate only).
  tls::PeerPolicy peers;
};

/** The registry. Thread-safe. */
class NodeRegistry final : public v1::NodeRegistry::Service {
 public:
  /** A registry writing Node objects to `store` and reporting to `listener`. */
  NodeRegistry(Store &store, NodeRegistryOptions options, NodeListener *listener);
  ~NodeRegistry() override;

  /** Loads the Node objects of the store as kWaiting nodes (their grace starts now). */
  void load_from_store();
  /** Starts the heartbeat monitor. */
  void start();
  /** Stops the monitor and every event stream. */
  void stop();

  grpc::Status Register(grpc::ServerContext *context, const v1::RegisterNodeRequest *request,
                        v1::RegisterNodeResponse *response) override;
  grpc::Status Heartbeat(grpc::ServerContext *context, const v1::HeartbeatRequest *request,
                         v1::HeartbeatResponse *response) override;

  /** Snapshot of every node, by name. */
  std::vector<NodeSnapshot> nodes() const;
  /** Snapshot of one node. */
  std::optional<NodeSnapshot> node(const std::string &name) const;
  /** The connection to a registered node (nullptr when it has none). */
  std::shared_ptr<NodeConnection> connection(const std::string &name) const;
  /** Readiness of `name` (kNotReady for an unknown node). */
  NodeReadiness readiness(const std::string &name) const;
  /** The boot id `name` registered with (it changes when its agent restarts); 0 when it has
   *  not registered since the controller started. */
  int64_t boot_id(const std::string &name) const;

  /** The state `node` last reported for `vm_id`: nullopt when the node has not registered since
   *  the controller started (unknown), "" when it registered and does not have the VM. */
  std::optional<std::string> observed(const std::string &node, const std::string &vm_id) const;
  /** Why the guest of `vm_id` on `node` is silent (the node's "guest-console" event message),
   *  or "" when the node has not reported it silent since it last started. */
  std::string guest_silence(const std::string &node, const std::string &vm_id) const;
  /** Records a state learnt from an RPC answer or event ("" = the VM is gone); false when it
   *  was already the recorded state. An answer's `event_sequence` (VmStatus.event_sequence)
   *  marks the node's state-changed events up to it as already reflected: they are skipped. */
  bool set_observed(const std::string &node, const std::string &vm_id, const std::string &state,
                    uint64_t event_sequence = 0);
  /** An action RPC on a VM is in flight for the life of the object: that VM's state-changed
   *  events are recorded but held back from the listener (the caller acts on the answer). */
  class Action {
   public:
    /** An action on `vm_id` at `node` starts. */
    Action(NodeRegistry &registry, std::string node, std::string vm_id);
    ~Action();
    Action(const Action &) = delete;
    Action &operator=(const Action &) = delete;
    /** The action ended with an answer carrying `answered_sequence` (its event_sequence; 0
     *  without one). True when an event held back is newer: the caller must reconcile again.
     *  Without a call to end(), the destructor ends it with no answer. */
    bool end(uint64_t answered_sequence);

   private:
    NodeRegistry &registry_;
    std::string node_, vm_id_;
    bool ended_ = false;
  };
  /** Ready nodes that report `vm_id`, with its state. */
  std::vector<std::pair<std::string, std::string>> find_vm(const std::string &vm_id) const;
  /** vm id → state of every VM `node` reported; empty when the node is not Ready (its list
   *  is stale) or unknown. */
  std::map<std::string, std::string> observed_vms(const std::string &node) const;

  /** Sets spec.unschedulable of the node (memory + store). Returns false for an unknown node. */
  bool set_unschedulable(const std::string &name, bool unschedulable);
  /** Forgets a node (its Node object was deleted). */
  void forget(const std::string &name);

  /** Scheduler view of every node with allocations left at zero. Built once per change of a
   *  node (registration, readiness, cordon, removal) and shared: a caller can keep a copy and
   *  refresh it only when the pointer changes. */
  std::shared_ptr<const std::vector<SchedulerNode>> scheduler_views() const;

  /** The registry's options. */
  const NodeRegistryOptions &options() const { return options_; }

 private:
  struct Node {
    NodeSnapshot info;
    int64_t boot_id = 0;
    std::chrono::steady_clock::time_point last_heartbeat;
    std::chrono::steady_clock::time_point last_flush;
    bool registered = false;  ///< Reported its VM list since the controller started.
    SharedLabels shared_labels =
        empty_shared_labels();  ///< info.labels, shared by scheduler views.
    std::shared_ptr<NodeConnection> connection;
  };

  void monitor();
  void write_node(const std::string &name, bool heartbeat_only);
  // "" when `node` may report on `vm_id`; else logs (once per node registration, VM and
  // node it is assigned to) that the report `what` is ignored, and answers that node.
  std::string refuse_report(const std::string &node, const std::string &vm_id,
                            const std::string &what);

  Store &store_;
  NodeRegistryOptions options_;
  NodeListener *listener_;
  mutable std::mutex mutex_;
  /** Runs the event streams of every node's connection (declared before nodes_, so it outlives
   *  the connections there). */
  std::shared_ptr<EventPoller> event_poller_ = std::make_shared<EventPoller>();
  std::map<std::string, Node> nodes_;
  uint64_t nodes_generation_ = 0;  ///< Bumped whenever a scheduler view of a node changes.
  mutable uint64_t views_generation_ = ~uint64_t{0};                 ///< Generation of views_.
  mutable std::shared_ptr<const std::vector<SchedulerNode>> views_;  ///< scheduler_views().
  ObservedVms observed_;  ///< What the nodes report of their VMs.
  std::mutex refused_mutex_;
  /// Refused reports already logged: (node, "VM\nassigned node").
  std::set<std::pair<std::string, std::string>> refused_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread monitor_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_REGISTRY_H
