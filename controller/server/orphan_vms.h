// orphan_vms.h - the reconciler of the VMs a node runs that no VirtualMachineInstance wants
// (queue key "orphans/<node>"). Two kinds:
//  - stale copies of HAL's own VMs: the id is one the controller placed, or names a VM or VMI
//    in the store, but the VMI runs elsewhere or is gone (a node back from NotReady after its VMs
//    were recreated elsewhere, a migration's losing side). They are deleted at once, on the
//    node's registration;
//  - orphans: no object in the store claims the id, so HAL did not create them (a direct call to
//    the node agent). They are reported as a Warning event and the OrphanVMs condition on the
//    Node, naming them, and deleted once they have been orphans for
//    ControllerOptions::orphan_vm_grace, only when that is set (hal-controller
//    --orphan-vm-grace-ms); by default they are only reported.
// Passes run on registration, when an event or the periodic re-list shows a VM the controller
// does not know, and when an orphan's grace period ends.
#ifndef HAL_CONTROLLER_SERVER_ORPHAN_VMS_H
#define HAL_CONTROLLER_SERVER_ORPHAN_VMS_H

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "controller/server/reconcile_context.h"

namespace hal::controller {

/** Whether the controller has placed a VMI under `vm_id` or is migrating it (else a pass over
 *  the node that runs it should look at it). */
bool placed_vm(const PlacementModel &placements, const std::string &vm_id);

/** The orphan VM reconciler. Thread-safe; the work queue runs one pass per node at a time. */
class OrphanVmReconciler {
 public:
  /** A reconciler over the controller's shared parts (which must outlive it). */
  explicit OrphanVmReconciler(ReconcileContext &shared) : shared_(shared) {}

  /** `node` registered: its next pass also deletes the stale copies it reports. */
  void node_registered(const std::string &node);
  /** One pass over the VMs `node` reports. */
  WorkResult reconcile(const std::string &node);

 private:
  enum class Kind { kWanted, kStale, kOrphan };
  // What `vm_id` on `node` is; queues the instance key of a VM object that still wants it.
  Kind classify(const std::string &node, const std::string &vm_id);
  // Deletes `vm_id` on `node` through `call`; true when it is gone.
  bool delete_vm(NodeCall &call, const std::string &node, const std::string &vm_id);
  // Writes the Node's OrphanVMs condition for `orphans` (removed when empty) with an event for
  // `found` and `deleted`, when anything changed.
  void record(const std::string &node, const std::set<std::string> &orphans,
              const std::set<std::string> &found, const std::set<std::string> &deleted);

  ReconcileContext &shared_;
  std::mutex mutex_;
  std::set<std::string> registered_;  ///< Nodes whose next pass deletes stale copies.
  /// node → orphan vm id → when it was first reported.
  std::map<std::string, std::map<std::string, std::chrono::steady_clock::time_point>> orphans_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_ORPHAN_VMS_H
