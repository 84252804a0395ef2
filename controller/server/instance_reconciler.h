// instance_reconciler.h - the level-triggered reconciler of a VirtualMachine and its
// VirtualMachineInstance, which share one queue key ("inst/<ns>/<name>") so their writes are one
// transaction: the VM's runStrategy and crash-loop back-off, the VMI's creation, scheduling and
// start on a node, its observed state and conditions, its termination (graceful stop without a
// waiting worker, then delete). VMs a node runs that no VMI owns are orphan_vms.h's.
#ifndef HAL_CONTROLLER_SERVER_INSTANCE_RECONCILER_H
#define HAL_CONTROLLER_SERVER_INSTANCE_RECONCILER_H

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "controller/server/reconcile_context.h"

namespace hal::controller {

/** The instance reconciler. Thread-safe: the work queue runs one pass per key at a time. */
class InstanceReconciler {
 public:
  /** A reconciler over the controller's shared parts (which must outlive it). */
  explicit InstanceReconciler(ReconcileContext &shared) : shared_(shared) {}

  /** One pass over the VM and VMI ns/name. */
  WorkResult reconcile(const std::string &ns, const std::string &name);

 private:
  struct InstanceContext;
  // Terminates the pass's VMI on its node(s); false while that is not finished yet.
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

  ReconcileContext &shared_;

  /** A graceful stop sent to a node and not yet followed by the VM's delete. */
  struct GracefulStop {
    std::string vmi_uid;                               ///< The VMI it stops.
    std::chrono::steady_clock::time_point give_up_at;  ///< Then delete (forced) anyway.
    bool answered = false;                             ///< The node's StopVm has returned.
  };
  std::mutex stops_mutex_;
  std::map<std::string, GracefulStop> graceful_stops_;  ///< HAL vm id → its stop.
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_INSTANCE_RECONCILER_H
