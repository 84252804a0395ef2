// controller.h - the hal-controller core: owns the work queue and the node registry, keeps the
// controller-side bookkeeping (which VMI is placed where, vm id → VMI, active migrations) and
// runs the level-triggered reconcilers: the instance reconciler (a VirtualMachine and its VMI
// under one key "inst/<ns>/<name>", so their writes are one transaction), the migration
// controller ("vmim/<ns>/<name>") and node status ("node/<name>"). Actions of the Controller API
// (start, stop, ..., migrate, drain) are methods here too.
#ifndef HAL_CONTROLLER_SERVER_CONTROLLER_H
#define HAL_CONTROLLER_SERVER_CONTROLLER_H

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/api/kubevirt_api.h"
#include "controller/server/image_catalog.h"
#include "controller/server/node_call_slots.h"
#include "controller/server/node_registry.h"
#include "controller/server/work_queue.h"
#include "controller/store/store.h"

namespace hal::controller {

/** Migration limits (KubeVirt MigrationConfiguration defaults). */
struct MigrationLimits {
  unsigned parallel_per_cluster = 5;                   ///< parallelMigrationsPerCluster.
  unsigned parallel_outbound_per_node = 2;             ///< parallelOutboundMigrationsPerNode.
  std::chrono::milliseconds progress_timeout{150000};  ///< progressTimeout (150 s).
  std::chrono::milliseconds completion_timeout_per_gib{
      800000};                                   ///< completionTimeoutPerGiB (800 s).
  std::chrono::milliseconds poll_interval{200};  ///< Progress polling period.
};

/** Controller options. */
struct ControllerOptions {
  NodeRegistryOptions nodes;  ///< Heartbeat timing.
  /// Concurrent reconciles. Most of a reconcile waits (on a node's reply, on the store's group
  /// commit), so 16 beat 8 on 2 cores: 10,000 mock VMs converged in 11.0 s vs 13.2 s and used
  /// less CPU (means of 5 alternating pairs); 32 gained nothing more.
  unsigned workers = 16;
  std::chrono::milliseconds retry_base{100};  ///< Work queue retry back-off base.
  std::chrono::milliseconds retry_max{std::chrono::seconds(30)};           ///< Retry back-off cap.
  std::chrono::milliseconds crash_backoff_base{std::chrono::seconds(10)};  ///< CrashLoopBackOff.
  std::chrono::milliseconds crash_backoff_max{std::chrono::minutes(5)};    ///< Its cap.
  std::chrono::milliseconds stable_run{std::chrono::minutes(1)};    ///< Run this long → reset.
  std::chrono::milliseconds rpc_timeout{std::chrono::seconds(30)};  ///< Node RPC deadline.
  /// Blocking calls (so reconcile workers) one node may hold at once, at most workers - 1: the
  /// work of a node whose calls hang waits for a free slot without a worker (node_call_slots.h).
  std::size_t calls_per_node = 4;
  std::chrono::milliseconds resync_interval{std::chrono::seconds(10)};  ///< ListVms per node.
  MigrationLimits migration;                                            ///< Migration limits.
};

/** An action failure with the gRPC code to answer. */
class ActionError : public std::runtime_error {
 public:
  /** `code` is a grpc::StatusCode value. */
  ActionError(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
  /** The grpc::StatusCode value. */
  int code() const { return code_; }

 private:
  int code_;
};

/** Result of Drain. */
struct DrainResult {
  std::vector<StoredObject> migrations;  ///< VMIMs created.
  std::vector<std::string> skipped;      ///< "ns/name: reason".
};

/** The controller. */
class Controller : public NodeListener {
 public:
  /** A controller over `store`, resolving images with `images` (both must outlive it). */
  Controller(Store &store, const ImageCatalog &images, ControllerOptions options);
  ~Controller() override;
  Controller(const Controller &) = delete;
  Controller &operator=(const Controller &) = delete;

  /** Loads state from the store (nodes, placements), starts the registry monitor and the
   *  workers, and queues every object for reconciliation. */
  void start();
  /** Stops workers, the monitor and node streams. */
  void stop();

  /** The NodeRegistry service (served on the controller's port). */
  NodeRegistry &registry() { return registry_; }
  /** The store. */
  Store &store() { return store_; }
  /** The work queue (tests wait on it). */
  WorkQueue &queue() { return queue_; }
  /** Options. */
  const ControllerOptions &options() const { return options_; }

  /** Queues reconciliation of the object at `key` (VM, VMI, VMIM, Node). */
  void enqueue(const StoreKey &key);

  // Actions (throw ActionError).
  /** virtctl start. */
  StoredObject start_vm(const std::string &ns, const std::string &name);
  /** virtctl stop (force: no graceful shutdown). */
  StoredObject stop_vm(const std::string &ns, const std::string &name, bool force);
  /** virtctl restart. */
  StoredObject restart_vm(const std::string &ns, const std::string &name);
  /** virtctl pause / unpause (pause=false). */
  StoredObject pause_vm(const std::string &ns, const std::string &name, bool pause);
  /** Creates a VirtualMachineInstanceMigration for the VM/VMI; target_node optional. */
  StoredObject migrate_vm(const std::string &ns, const std::string &name,
                          const std::string &target_node);
  /** Cordons `node` and migrates (or stops) its VMIs per evictionStrategy. */
  DrainResult drain(const std::string &node, bool cordon_only, bool uncordon);
  /** Node address and vm id of the VM's console. */
  std::pair<NodeSnapshot, std::string> console(const std::string &ns, const std::string &name);
  /** Deletes an object (VM/VMI/VMIM are terminated by the reconcilers first); returns it. */
  StoredObject delete_object(const StoreKey &key);

  // NodeListener.
  void node_registered(const std::string &node, const std::vector<std::string> &vm_ids) override;
  void node_not_ready(const std::string &node) override;
  void node_event(const std::string &node, const v1::NodeEvent &event) override;

  /** Placement bookkeeping: vCPUs, memory and VM count placed on a node (targets of running
   *  migrations included). */
  void fill_allocation(const std::string &node, SchedulerNode &view) const;

 private:
  struct Placement {
    std::string node;
    uint32_t vcpus = 0;
    uint64_t memory = 0;
    std::vector<uint32_t> host_cpus;  ///< Dedicated host CPUs (dedicatedCpuPlacement).
  };

  /** Host CPUs for a dedicatedCpuPlacement VMI on `node` that no other placement holds (one NUMA
   *  node first when it fits); nullopt when there are not enough. Call under schedule_mutex_. */
  std::optional<CpuPlacement> pick_cpus(const std::string &node,
                                        const ResourceRequest &request) const;
  /** Translates a VMI spec for `node`, choosing dedicated CPUs when the spec asks for them. */
  nlohmann::json hal_spec_for(const nlohmann::json &vmi_spec, const std::string &vm_id,
                              const std::string &node, const ResourceRequest &request,
                              std::vector<uint32_t> *host_cpus) const;

  WorkResult handle(const std::string &key);
  WorkResult reconcile_instance(const std::string &ns, const std::string &name);
  /** The machine type the node runs `vm_id` on (its vm-info spec.machine); "" when the node
   *  does not say. */
  std::string running_machine(NodeConnection &connection, const std::string &vm_id);
  WorkResult reconcile_migration(const std::string &ns, const std::string &name);
  WorkResult reconcile_node(const std::string &name);
  WorkResult resync_node(const std::string &name);
  void load_placements();

  // Instance reconciler steps (instance_reconciler.cc, instance_lifecycle.cc).
  struct InstanceContext;
  bool terminate_vmi(InstanceContext &ctx);
  // Sends a VM's graceful stop once, without waiting for it; answers whether the delete may go
  // on: once the node has answered, or the grace period and an RPC timeout have passed.
  bool graceful_stop_over(InstanceContext &ctx, NodeConnection &connection,
                          const std::string &vm_id, std::chrono::milliseconds grace);
  void create_vmi(InstanceContext &ctx);
  void schedule_and_start(InstanceContext &ctx);
  void observe_vmi(InstanceContext &ctx);
  // Sets or clears the VMI's GuestConsoleSilent condition from what the node reported of a
  // running guest (with a Warning event when it is set); true when the VMI changed.
  bool update_guest_silence(InstanceContext &ctx, const std::string &node, const std::string &vm_id,
                            bool running);
  void handle_orphans(const std::string &node, const std::vector<std::string> &vm_ids);

  // Migration helpers (migration_controller.cc).
  void finish_migration(const StoreKey &vmim_key, nlohmann::json &vmim, nlohmann::json &vmi,
                        bool succeeded, const std::string &reason, std::vector<StoreWrite> &writes);
  /** Active migrations (all, or out of `source_node`), from the in-memory reservations. */
  size_t active_migrations(const std::string &source_node) const;
  static bool migration_active_for(const nlohmann::json &vmi);

  // Placements and indexes.
  void place(const StoreKey &vmi_key, const Placement &placement);
  void unplace(const StoreKey &vmi_key);
  void place_target(const StoreKey &vmim_key, const Placement &placement,
                    const std::string &source);
  void unplace_target(const StoreKey &vmim_key);
  std::optional<StoreKey> vmi_for_vm_id(const std::string &vm_id) const;
  void index_vm_id(const std::string &vm_id, const StoreKey &vmi_key);
  void schedule_node_flush(const std::string &node);
  TranslationContext translation(const std::string &vm_id) const;

  StoredObject modify_vm(
      const std::string &ns, const std::string &name,
      const std::function<void(nlohmann::json &vm, const nlohmann::json *vmi)> &change);

  Store &store_;
  const ImageCatalog &images_;
  ControllerOptions options_;
  NodeRegistry registry_;
  WorkQueue queue_;
  NodeCallSlots call_slots_;  ///< Bounds the workers one node can hold.

  /** Totals of the placements on one node. */
  struct Allocation {
    uint64_t cpu_millis = 0;  ///< CPU requests (cpu_request_millis).
    uint64_t memory = 0;
    size_t count = 0;
  };
  /** Adds (sign +1) or removes (-1) a placement from its node's totals; mutex_ held. */
  void account(const Placement &placement, int sign);

  std::mutex schedule_mutex_;  ///< Serialises schedule + place.
  // Every node's scheduler view with its allocation now; copied from the registry's shared
  // views only when they change. Call under schedule_mutex_.
  const std::vector<SchedulerNode> &scheduler_nodes();
  void fill_allocation_locked(const std::string &node, SchedulerNode &view) const;  // mutex_ held
  std::shared_ptr<const std::vector<SchedulerNode>> scheduler_views_;  ///< schedule_mutex_
  std::vector<SchedulerNode> scheduler_nodes_;                         ///< schedule_mutex_
  mutable std::mutex mutex_;
  std::map<StoreKey, Placement> placements_;           ///< VMI → where it runs.
  std::map<StoreKey, Placement> target_placements_;    ///< VMIM → reserved target.
  std::map<StoreKey, std::string> migration_sources_;  ///< Active VMIM → source node.
  std::map<std::string, Allocation> allocations_;  ///< Node → totals of placements_ + targets.
  std::map<std::string, StoreKey> vm_ids_;         ///< HAL vm id → VMI key.
  std::map<std::string, StoreKey> migrating_;      ///< HAL vm id → active VMIM key.
  std::set<std::string> flush_pending_;            ///< Nodes with a queued status flush.
  std::set<StoreKey> unschedulable_;  ///< VMIs waiting for room (re-queued when room frees).
  /** A graceful stop sent to a node and not yet followed by the VM's delete. */
  struct GracefulStop {
    std::string vmi_uid;                               ///< The VMI it stops.
    std::chrono::steady_clock::time_point give_up_at;  ///< Then delete (forced) anyway.
    bool answered = false;                             ///< The node's StopVm has returned.
  };
  std::map<std::string, GracefulStop> graceful_stops_;  ///< HAL vm id → its stop.
  std::chrono::steady_clock::time_point started_at_;
};

/** Work queue key of the VM/VMI pair ns/name. */
std::string instance_queue_key(const std::string &ns, const std::string &name);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_CONTROLLER_H
