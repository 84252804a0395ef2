// migration_reconciler.h - the reconciler of a VirtualMachineInstanceMigration (queue key
// "vmim/<ns>/<name>"): KubeVirt's limits (parallel per cluster, outbound per node), a target
// chosen by the scheduler without the source (or the requested node), PrepareIncoming on the
// target then SendMigration on the source, progress polled into status.progress with KubeVirt's
// progress and completion timeouts, and the end: on success the VMI moves to the target and the
// source's leftover VM is deleted; on failure, timeout or deletion the migration is cancelled and
// the source keeps running. A side whose agent is lost (agent_liveness.h) ends it within seconds:
// the target wins when it already runs the guest, else the source, and the loser's copy goes.
#ifndef HAL_CONTROLLER_SERVER_MIGRATION_RECONCILER_H
#define HAL_CONTROLLER_SERVER_MIGRATION_RECONCILER_H

#include <set>
#include <string>
#include <vector>

#include "controller/server/reconcile_context.h"

namespace hal::controller {

/** The migration reconciler. */
class MigrationReconciler {
 public:
  /** A reconciler over the controller's shared parts (which must outlive it). */
  explicit MigrationReconciler(ReconcileContext &shared) : shared_(shared) {}

  /** One pass over the migration ns/name. */
  WorkResult reconcile(const std::string &ns, const std::string &name);

 private:
  // Ends a migration (node calls, placements, VMIM and VMI status, events into `writes`); false,
  // with nothing changed, when a node involved has no free call slot. Nodes in `unreachable` are
  // not called (their copy goes when they register again).
  bool finish_migration(const StoreKey &vmim_key, nlohmann::json &vmim, nlohmann::json &vmi,
                        bool succeeded, const std::string &reason, std::vector<StoreWrite> &writes,
                        const std::set<std::string> &unreachable = {});
  // Whether `node` runs `vm_id` (the guest, not an incoming copy waiting for it).
  bool runs_guest(const std::string &node, const std::string &vm_id, const std::string &key);
  // The machine type the source runs `vm_id` on (its vm-info spec.machine); "" when the node does
  // not say.
  std::string running_machine(NodeCall &call, const std::string &vm_id);

  ReconcileContext &shared_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_MIGRATION_RECONCILER_H
