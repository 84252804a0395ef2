// agent_liveness.cc - an agent's readiness, boot id and connection state (see agent_liveness.h).
#include "controller/server/agent_liveness.h"

namespace hal::controller {

std::string agent_lost(NodeRegistry &registry, const std::string &node, int64_t boot_id,
                       std::chrono::milliseconds unreachable_after) {
  if (node.empty()) return "";
  if (registry.readiness(node) == NodeReadiness::kNotReady)
    return "is NotReady (no heartbeat for " +
           std::to_string(registry.options().grace_period.count()) + " ms)";
  const int64_t now_boot = registry.boot_id(node);
  if (boot_id != 0 && now_boot != 0 && now_boot != boot_id)
    return "restarted (its new agent does not carry on what the old one was doing)";
  if (auto connection = registry.connection(node)) {
    if (auto unreachable = connection->unreachable_for();
        unreachable && *unreachable >= unreachable_after) {
      return "has been unreachable for " +
             std::to_string(
                 std::chrono::duration_cast<std::chrono::milliseconds>(*unreachable).count()) +
             " ms (its connection broke)";
    }
  }
  return "";
}

}  // namespace hal::controller
