// object_util.h - small helpers over KubeVirt-shaped JSON objects: timestamps, uids,
// conditions, store keys for objects, the HAL VM id of a VMI, run strategies and VM state names.
#ifndef HAL_CONTROLLER_SERVER_OBJECT_UTIL_H
#define HAL_CONTROLLER_SERVER_OBJECT_UTIL_H

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/store/store.h"

namespace hal::controller {

/** Kind names used throughout the controller. */
inline constexpr const char *kVmKind = "VirtualMachine";
inline constexpr const char *kVmiKind = "VirtualMachineInstance";
inline constexpr const char *kVmimKind = "VirtualMachineInstanceMigration";
inline constexpr const char *kNodeKind = "Node";
inline constexpr const char *kNodePoolKind = "NodePool";
inline constexpr const char *kEventKind = "Event";

/** The current time as RFC 3339 UTC with seconds ("2026-01-02T03:04:05Z"). */
std::string now_rfc3339();
/** Parses now_rfc3339() output back to a time point (epoch on a parse failure). */
std::chrono::system_clock::time_point parse_rfc3339(const std::string &text);
/** A random RFC 4122 version 4 UUID. */
std::string new_uid();

/** True for kinds stored without a namespace (Node, NodePool, ClusterRole,
 *  ClusterRoleBinding). */
bool cluster_scoped(const std::string &kind);
/** The store key of a whole object (kind, metadata.namespace, metadata.name). */
StoreKey key_of(const nlohmann::json &object);

/** Sets condition `type` in `conditions` (an array, created if null); lastTransitionTime changes
 *  only when the status does. Returns true when anything changed. */
bool set_condition(nlohmann::json &conditions, const std::string &type, bool status,
                   const std::string &reason, const std::string &message);
/** Removes condition `type`; true when it was there. */
bool remove_condition(nlohmann::json &conditions, const std::string &type);
/** The condition `type`, or null. */
const nlohmann::json *find_condition(const nlohmann::json &conditions, const std::string &type);
/** Not on temporaries: the answer would dangle. */
const nlohmann::json *find_condition(nlohmann::json &&conditions, const std::string &type) = delete;
/** status.conditions of `object` (a shared empty array when absent). */
const nlohmann::json &conditions_of(const nlohmann::json &object);
/** Not on temporaries: the answer would dangle. */
const nlohmann::json &conditions_of(nlohmann::json &&object) = delete;
/** Member `key` of `object`, without copying (a shared empty object when absent or when
 *  `object` is not an object). */
const nlohmann::json &member_or_empty(const nlohmann::json &object, const char *key);
/** Not on temporaries: the answer would dangle. */
const nlohmann::json &member_or_empty(nlohmann::json &&object, const char *key) = delete;

/** Whether a VMI has a migration that has neither completed nor failed. */
bool migration_active(const nlohmann::json &vmi);

/** HAL VM id of a VMI: hal_vm_id(ns, name) (injective; "" for a name that cannot be one). */
std::string vm_id_for(const std::string &ns, const std::string &name);

/** The HAL VM id a stored VMI runs under: its status.hal.vmId (kept across upgrades that change
 *  the encoding, so a running VM is never renamed), else vm_id_for(ns, name). */
std::string vm_id_of(const nlohmann::json &vmi, const std::string &ns, const std::string &name);

/** The effective run strategy of a VirtualMachine (spec.runStrategy, else from spec.running:
 *  true → Always, false/absent → Halted). */
std::string run_strategy(const nlohmann::json &vm);

/** Node-reported VM state names (names.h), compared case-insensitively. */
bool state_is(const std::string &state, const char *name);

/** json string member or "" (null-safe for nested lookups). */
std::string str_at(const nlohmann::json &object, const nlohmann::json::json_pointer &pointer);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_OBJECT_UTIL_H
