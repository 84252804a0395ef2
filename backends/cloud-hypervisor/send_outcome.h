// send_outcome.h - how the backend decides that an outgoing Cloud Hypervisor migration is over,
// and how it ended, from what the VMM tells it: the vm.send-migration reply (which means "done"
// up to v52 and only "started" from v53.0 on), the vm/migration-finished and -failed events
// (v52.0 on), and the source VMM's exit (it exits once its VM lives elsewhere; its last events
// may be lost, since the event-monitor thread is not flushed at exit).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_SEND_OUTCOME_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_SEND_OUTCOME_H

#include <string>

#include "backends/cloud-hypervisor/ch_version.h"

namespace hal::cloud_hypervisor {

/** Everything observed so far about one outgoing migration. */
struct SendSignals {
  /** The vm.send-migration reply: 0 none yet, -1 no reply (connection failed or closed), else
   *  the HTTP status. */
  int reply_status = 0;
  /** The failure the reply carried (Cloud Hypervisor's message, or the transport error). */
  std::string reply_error;
  /** +1 after vm/migration-finished, -1 after vm/migration-failed, else 0. */
  int event = 0;
  /** True once the source VMM exited. */
  bool exited = false;
  /** True when it exited with status 0 (its own decision, not a signal or an error). */
  bool exited_cleanly = false;
  /** How it exited ("exited with status 0", "was killed by signal 9"). */
  std::string exit_how;
};

/** Where a migration stands. */
enum class SendVerdict { kPending, kCompleted, kFailed };

/** A verdict and, for kFailed, why. */
struct SendDecision {
  /** Pending, completed or failed. */
  SendVerdict verdict = SendVerdict::kPending;
  /** Why it failed (empty otherwise). */
  std::string error;
};

/** Decides from `signals` for a VMM of release `release`: an event decides first; then an HTTP
 *  error reply (failed) or, before v53.0, a 2xx reply (completed); then the VMM's exit (a clean
 *  exit is the completed migration's, whose event did not reach the file; any other is a
 *  failure); a reply that never came decides only where no event can (before v52.0). */
SendDecision decide_send(ChVersion release, const SendSignals &signals);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_SEND_OUTCOME_H
