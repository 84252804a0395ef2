// run_strategy.h - KubeVirt runStrategy semantics as pure decisions: given a VirtualMachine and
// its VMI (if any), what the reconciler must do next (create the VMI, stop/delete it, wait for a
// crash-loop back-off, or nothing), and the VM's printable status derived from both.
#ifndef HAL_CONTROLLER_SERVER_RUN_STRATEGY_H
#define HAL_CONTROLLER_SERVER_RUN_STRATEGY_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace hal::controller {

/** What the VM's run strategy asks for now. */
struct RunDecision {
  /** The action. */
  enum class Action {
    kNone,         ///< Leave things as they are.
    kCreate,       ///< Create (and start) a VMI.
    kStop,         ///< Stop the VMI and delete it.
    kWaitBackoff,  ///< A VMI is wanted but the crash-loop back-off has not expired.
  };
  Action action = Action::kNone;  ///< What to do.
  bool pop_request = false;       ///< The first status.stateChangeRequests entry is consumed.
  bool failure_restart = false;   ///< kStop of a Failed VMI that will be recreated (counts as a
                                  ///< start failure for the back-off).
};

/** The decision for `vm` with `vmi` (nullptr when none or being deleted) at `now_ms` (Unix ms).
 *  Honours status.stateChangeRequests (Start/Stop with the VMI uid) first, then the strategy:
 *  Always (VMI always present, recreated when final), RerunOnFailure (recreated only when
 *  Failed), Once (created once, never recreated), Manual (only on requests), Halted (none). */
RunDecision decide_run(const nlohmann::json &vm, const nlohmann::json *vmi, int64_t now_ms);

/** True when the VMI phase is final (Succeeded or Failed). */
bool vmi_final(const nlohmann::json &vmi);

/** Recomputes vm.status (printableStatus, ready, created, conditions Ready/Paused/Failure,
 *  a copy of a False PodScheduled VMI condition) from `vmi` (nullptr when none). Returns true
 *  when the status changed. `now_ms` decides whether a crash-loop back-off is pending. */
bool sync_vm_status(nlohmann::json &vm, const nlohmann::json *vmi, int64_t now_ms);

/** Unix time in milliseconds. */
int64_t unix_ms_now();

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_RUN_STRATEGY_H
