// node_reconciler.h - the reconciler of a node's side of the controller: its Node object's
// status.allocated (queue key "node/<name>", coalesced flushes of the placement model's totals)
// and the periodic resync (key "resync/<name>") that compares the node's full VM list with the
// states its events reported, a safety net under the event stream (and queues the orphan VM pass
// when the node runs a VM the controller has not placed).
#ifndef HAL_CONTROLLER_SERVER_NODE_RECONCILER_H
#define HAL_CONTROLLER_SERVER_NODE_RECONCILER_H

#include <string>

#include "controller/server/reconcile_context.h"

namespace hal::controller {

/** The node reconciler. */
class NodeReconciler {
 public:
  /** A reconciler over the controller's shared parts (which must outlive it). */
  explicit NodeReconciler(ReconcileContext &shared) : shared_(shared) {}

  /** Writes the node's allocation into its Node object when it changed. */
  WorkResult flush_status(const std::string &node);
  /** Corrects the VM states recorded for `node` from its ListVms answer, queues the VMIs whose
   *  state changed, and runs again after the resync interval. */
  WorkResult resync(const std::string &node);

 private:
  ReconcileContext &shared_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_RECONCILER_H
