// controller.h - the hal-controller core: it owns the work queue, the node registry, the node
// call slots and the placement model, and hands each queue key to its reconciler: the instance
// reconciler ("inst/<ns>/<name>", a VirtualMachine and its VMI), the migration reconciler
// ("vmim/<ns>/<name>"), the node reconciler ("node/<name>", "resync/<name>") and the orphan VM
// reconciler ("orphans/<name>"). It turns what the registry reports about nodes into queue keys.
// The Controller API's actions are VmActions (actions()).
#ifndef HAL_CONTROLLER_SERVER_CONTROLLER_H
#define HAL_CONTROLLER_SERVER_CONTROLLER_H

#include <string>
#include <vector>

#include "controller/server/controller_options.h"
#include "controller/server/image_catalog.h"
#include "controller/server/instance_reconciler.h"
#include "controller/server/migration_reconciler.h"
#include "controller/server/node_call_slots.h"
#include "controller/server/node_reconciler.h"
#include "controller/server/node_registry.h"
#include "controller/server/orphan_vms.h"
#include "controller/server/placement_model.h"
#include "controller/server/reconcile_context.h"
#include "controller/server/vm_actions.h"
#include "controller/server/work_queue.h"
#include "controller/store/store.h"

namespace hal::controller {

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
  /** The Controller API's actions. */
  VmActions &actions() { return actions_; }
  /** Where VMIs run. */
  const PlacementModel &placements() const { return placements_; }

  /** Queues reconciliation of the object at `key` (VM, VMI, VMIM, Node). */
  void enqueue(const StoreKey &key);

  // NodeListener.
  void node_registered(const std::string &node, const std::vector<std::string> &vm_ids) override;
  void node_not_ready(const std::string &node) override;
  void node_event(const std::string &node, const v1::NodeEvent &event) override;
  std::string vm_assigned_elsewhere(const std::string &node,
                                    const std::string &vm_id) const override;

 private:
  WorkResult handle(const std::string &key);

  Store &store_;
  ControllerOptions options_;
  PlacementModel placements_;
  NodeRegistry registry_;
  WorkQueue queue_;
  NodeCallSlots call_slots_;  ///< Bounds the workers one node can hold.
  ReconcileContext shared_;
  InstanceReconciler instances_;
  MigrationReconciler migrations_;
  NodeReconciler nodes_;
  OrphanVmReconciler orphans_;
  VmActions actions_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_CONTROLLER_H
