// node_snapshot.h - what the controller knows of a node (its registration, readiness and cordon)
// and how that is stored: the hal.dev/v1 Node object written from a snapshot, and the snapshot
// read back from a stored Node object when the controller starts.
#ifndef HAL_CONTROLLER_SERVER_NODE_SNAPSHOT_H
#define HAL_CONTROLLER_SERVER_NODE_SNAPSHOT_H

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/server/scheduler.h"

namespace hal::controller {

/** Readiness as the controller sees it. */
enum class NodeReadiness {
  kWaiting,   ///< Known from the store; has not registered since the controller started.
  kReady,     ///< Registered and heartbeating.
  kNotReady,  ///< Heartbeats missed beyond the grace period.
};

/** A copy of what the registry knows about a node. */
struct NodeSnapshot {
  std::string name;                                   ///< Node name.
  std::string pool;                                   ///< NodePool.
  std::string address;                                ///< NodeAgent address.
  NodeReadiness readiness = NodeReadiness::kWaiting;  ///< Current readiness.
  bool unschedulable = false;                         ///< Cordoned.
  std::map<std::string, std::string> labels;          ///< Node labels.
  std::vector<std::string> backends;                  ///< Loaded backends (first = default).
  nlohmann::json capabilities;                        ///< {"<backend>": capabilities}.
  SharedJson host_info = empty_shared_json();         ///< host-info document.
  uint32_t allocatable_cpus = 0;                      ///< CPUs for VMs.
  uint64_t allocatable_memory = 0;                    ///< Memory bytes for VMs.
};

/** The Node object for `info` as of now: `existing`'s metadata (uid, creation time) and
 *  status.allocated are kept; the Ready condition says why a node is not ready in terms of
 *  `grace_period`. */
nlohmann::json node_object(const NodeSnapshot &info, int64_t boot_id,
                           std::chrono::milliseconds grace_period, const nlohmann::json &existing);

/** The snapshot of the stored Node object `object` named `name`, as kWaiting (it has not
 *  registered since the controller started). */
NodeSnapshot snapshot_of(const std::string &name, const nlohmann::json &object);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_SNAPSHOT_H
