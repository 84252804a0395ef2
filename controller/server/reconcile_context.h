// reconcile_context.h - what the controller's reconcilers and actions share: the store, the
// image catalog, the options, the node registry, the work queue, the calls to nodes and the
// placement model, with the helpers they all use (queue keys, scheduling under one lock,
// translation with dedicated CPUs, releasing a placement, node status flushes).
#ifndef HAL_CONTROLLER_SERVER_RECONCILE_CONTEXT_H
#define HAL_CONTROLLER_SERVER_RECONCILE_CONTEXT_H

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/api/kubevirt_api.h"
#include "controller/server/controller_options.h"
#include "controller/server/image_catalog.h"
#include "controller/server/node_calls.h"
#include "controller/server/node_registry.h"
#include "controller/server/placement_model.h"
#include "controller/server/work_queue.h"
#include "controller/store/store.h"

namespace hal::controller {

/** Work queue key of the VM/VMI pair ns/name. */
std::string instance_queue_key(const std::string &ns, const std::string &name);
/** Work queue key of the migration (VMIM) ns/name. */
std::string migration_queue_key(const std::string &ns, const std::string &name);

/** The shared parts. The referenced objects must outlive it. */
class ReconcileContext {
 public:
  /** Over the controller's parts; node calls go through `slots`. */
  ReconcileContext(Store &store, const ImageCatalog &images, const ControllerOptions &options,
                   NodeRegistry &registry, WorkQueue &queue, NodeCallSlots &slots,
                   PlacementModel &placements);

  Store &store;                      ///< Objects.
  const ImageCatalog &images;        ///< Image references → files.
  const ControllerOptions &options;  ///< Tunables.
  NodeRegistry &registry;            ///< Nodes and the VM states they report.
  WorkQueue &queue;                  ///< Reconcile keys.
  NodeCalls calls;                   ///< The only way to call a node.
  PlacementModel &placements;        ///< Where VMIs run.

  /** Queues the reconcile of the VM/VMI pair `key` names (VM or VMI key). */
  void queue_instance(const StoreKey &key);
  /** Queues the reconcile of the migration `key`. */
  void queue_migration(const StoreKey &key);
  /** Queues whatever reconciles `key` (VM, VMI, VMIM, or a Node's status flush). */
  void queue_object(const StoreKey &key);

  /** Held while choosing a node and placing on it, so two choices never take the same room. */
  std::unique_lock<std::mutex> scheduling_lock();
  /** Every node's scheduler view with its allocations now (scheduling_lock held). */
  const std::vector<SchedulerNode> &scheduler_nodes();

  /** Translation context of the VM `vm_id`. */
  TranslationContext translation(const std::string &vm_id) const;
  /** Translates a VMI spec for `node`, choosing its dedicated host CPUs there when the spec asks
   *  for them (stored in `host_cpus`); throws hal::Error(RESOURCE_EXHAUSTED) when too few are
   *  free. Call under scheduling_lock. */
  nlohmann::json hal_spec_for(const nlohmann::json &vmi_spec, const std::string &vm_id,
                              const std::string &node, const ResourceRequest &request,
                              std::vector<uint32_t> *host_cpus) const;

  /** Releases a VMI's placement: VMIs waiting for room are queued again and the node's status
   *  flush is scheduled. */
  void unplace(const StoreKey &vmi_key);
  /** Schedules a write of the node's allocation into its Node object (coalesced). */
  void schedule_node_flush(const std::string &node);
  /** Clears the node's pending flush (the flush runs now). */
  void flush_started(const std::string &node);

 private:
  std::mutex schedule_mutex_;
  std::shared_ptr<const std::vector<SchedulerNode>> scheduler_views_;  // schedule_mutex_
  std::vector<SchedulerNode> scheduler_nodes_;                         // schedule_mutex_
  std::mutex flush_mutex_;
  std::set<std::string> flush_pending_;  // nodes with a queued status flush
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_RECONCILE_CONTEXT_H
