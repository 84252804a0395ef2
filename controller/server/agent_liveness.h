// agent_liveness.h - whether a node's agent can still carry on work it started, told by the
// agent's connection state within seconds instead of by a timeout of the work: the node is
// NotReady (heartbeats missed for the grace period), its agent restarted (another boot id: the
// new agent knows nothing of what the old one was doing), or it has been unreachable since its
// event stream broke (an agent killed closes its connections at once).
#ifndef HAL_CONTROLLER_SERVER_AGENT_LIVENESS_H
#define HAL_CONTROLLER_SERVER_AGENT_LIVENESS_H

#include <chrono>
#include <cstdint>
#include <string>

#include "controller/server/node_registry.h"

namespace hal::controller {

/** Why the agent of `node`, which had boot id `boot_id` when the work started (0: not known),
 *  cannot carry it on: "is NotReady ...", "restarted ...", "has been unreachable for N ms ..."
 *  (once it has been unreachable for `unreachable_after`); "" when it can. */
std::string agent_lost(NodeRegistry &registry, const std::string &node, int64_t boot_id,
                       std::chrono::milliseconds unreachable_after);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_AGENT_LIVENESS_H
