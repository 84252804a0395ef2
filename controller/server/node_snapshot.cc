// node_snapshot.cc - Node objects written from snapshots and read back.
#include "controller/server/node_snapshot.h"

#include "controller/server/object_util.h"

namespace hal::controller {
namespace {

// Member `key` of `object` when it is an object; an empty object otherwise.
const nlohmann::json &section(const nlohmann::json &object, const char *key) {
  static const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json &member = member_or_empty(object, key);
  return member.is_object() ? member : empty;
}

}  // namespace

nlohmann::json node_object(const NodeSnapshot &info, int64_t boot_id,
                           std::chrono::milliseconds grace_period, const nlohmann::json &existing) {
  nlohmann::json object = existing.is_object() ? existing : nlohmann::json::object();
  object["apiVersion"] = "hal.dev/v1";
  object["kind"] = kNodeKind;
  auto &metadata = object["metadata"];
  metadata["name"] = info.name;
  if (!metadata.contains("uid")) metadata["uid"] = new_uid();
  if (!metadata.contains("creationTimestamp")) metadata["creationTimestamp"] = now_rfc3339();
  metadata["labels"] = info.labels;
  object["spec"]["unschedulable"] = info.unschedulable;
  auto &status = object["status"];
  status["pool"] = info.pool;
  status["address"] = info.address;
  status["backends"] = info.backends;
  status["capabilities"] = info.capabilities;
  status["hostInfo"] = *info.host_info;
  status["allocatable"] = {{"cpu", info.allocatable_cpus}, {"memory", info.allocatable_memory}};
  if (!status.contains("allocated")) status["allocated"] = {{"cpu", "0m"}, {"memory", 0}};
  status["bootId"] = boot_id;
  status["lastHeartbeatTime"] = now_rfc3339();
  const bool ready = info.readiness == NodeReadiness::kReady;
  set_condition(status["conditions"], "Ready", ready, ready ? "NodeReady" : "NodeStatusUnknown",
                ready ? "hal-node is posting heartbeats"
                      : "hal-node stopped posting heartbeats (grace period " +
                            std::to_string(grace_period.count()) + " ms)");
  return object;
}

NodeSnapshot snapshot_of(const std::string &name, const nlohmann::json &object) {
  NodeSnapshot info;
  info.name = name;
  const nlohmann::json &status = section(object, "status");
  info.pool = status.value("pool", "");
  info.address = status.value("address", "");
  if (status.contains("backends"))
    info.backends = status["backends"].get<std::vector<std::string>>();
  info.capabilities = status.value("capabilities", nlohmann::json::object());
  info.host_info = share_json(status.value("hostInfo", nlohmann::json::object()));
  if (status.contains("allocatable") && status["allocatable"].is_object()) {
    info.allocatable_cpus = status["allocatable"].value("cpu", 0u);
    info.allocatable_memory = status["allocatable"].value("memory", uint64_t{0});
  }
  const nlohmann::json &metadata = section(object, "metadata");
  if (metadata.contains("labels"))
    info.labels = metadata["labels"].get<std::map<std::string, std::string>>();
  info.unschedulable = section(object, "spec").value("unschedulable", false);
  info.readiness = NodeReadiness::kWaiting;
  return info;
}

}  // namespace hal::controller
