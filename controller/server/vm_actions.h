// vm_actions.h - the Controller API's actions, as KubeVirt defines them per run strategy:
// virtctl start/stop/restart change the run strategy (Always, RerunOnFailure, Halted, Once) or
// queue status.stateChangeRequests (Manual, restart) and leave the work to the instance
// reconciler; pause/unpause and a forced stop call the node at once (through its call slots);
// migrate creates a VirtualMachineInstanceMigration; drain cordons a node and migrates or stops
// its VMIs per evictionStrategy; delete marks objects for their reconcilers' clean-up.
#ifndef HAL_CONTROLLER_SERVER_VM_ACTIONS_H
#define HAL_CONTROLLER_SERVER_VM_ACTIONS_H

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "controller/server/reconcile_context.h"

namespace hal::controller {

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

/** The actions. Each throws ActionError naming what stands in the way. Thread-safe. */
class VmActions {
 public:
  /** Actions over the controller's shared parts (which must outlive them). */
  explicit VmActions(ReconcileContext &shared) : shared_(shared) {}

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

 private:
  // Applies `change` to the VM ns/name (retrying on write conflicts) and queues its reconcile.
  StoredObject modify_vm(
      const std::string &ns, const std::string &name,
      const std::function<void(nlohmann::json &vm, const nlohmann::json *vmi)> &change);

  ReconcileContext &shared_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_VM_ACTIONS_H
