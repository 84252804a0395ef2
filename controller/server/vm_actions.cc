// vm_actions.cc - virtctl-style actions (start, stop, restart, pause, unpause, migrate,
// console), drain and delete, as KubeVirt defines them per run strategy: start/stop change the
// run strategy (Always/RerunOnFailure/Halted/Once) or queue status.stateChangeRequests (Manual,
// restart); the reconciler then does the work.
#include "controller/server/vm_actions.h"

#include <grpcpp/grpcpp.h>

#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "controller/server/run_strategy.h"
#include "core/log/log.h"

namespace hal::controller {

using nlohmann::json;
using Pointer = json::json_pointer;

namespace {

// The call-slot key of an action on the VM ns/name (not a work queue key: actions wait).
std::string action_key(const std::string &ns, const std::string &name) {
  return "action/" + ns + "/" + name;
}

[[noreturn]] void refuse(grpc::StatusCode code, const std::string &message) {
  throw ActionError(static_cast<int>(code), message);
}

void set_strategy(json &vm, const std::string &strategy) {
  auto &spec = vm["spec"];
  if (spec.contains("running") && !spec.contains("runStrategy")) {
    if (strategy == "Always" || strategy == "Halted") {
      spec["running"] = strategy == "Always";
      return;
    }
    spec.erase("running");
  }
  spec["runStrategy"] = strategy;
}

void add_requests(json &vm, std::initializer_list<json> requests) {
  auto &list = vm["status"]["stateChangeRequests"];
  if (!list.is_array()) list = json::array();
  for (const auto &request : requests) list.push_back(request);
}

}  // namespace

StoredObject VmActions::modify_vm(const std::string &ns, const std::string &name,
                                  const std::function<void(json &vm, const json *vmi)> &change) {
  const StoreKey key{kVmKind, ns, name};
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto stored = shared_.store.get(key);
    if (!stored)
      refuse(grpc::StatusCode::NOT_FOUND, "VirtualMachine " + ns + "/" + name + " not found");
    auto vmi_stored = shared_.store.get(StoreKey{kVmiKind, ns, name});
    json vm = stored->object;
    if (vm["metadata"].contains("deletionTimestamp")) {
      refuse(grpc::StatusCode::FAILED_PRECONDITION,
             "VirtualMachine " + ns + "/" + name + " is being deleted");
    }
    const json *vmi = vmi_stored && !vmi_stored->object["metadata"].contains("deletionTimestamp")
                          ? &vmi_stored->object
                          : nullptr;
    change(vm, vmi);
    if (vm == stored->object) return *stored;
    try {
      auto written = shared_.store.update(key, vm, stored->version);
      shared_.queue_object(key);
      return written;
    } catch (const StoreError &e) {
      if (e.code() != StoreErrorCode::kConflict) throw;
    }
  }
  refuse(grpc::StatusCode::ABORTED,
         "VirtualMachine " + ns + "/" + name + " keeps changing; try again");
}

StoredObject VmActions::start_vm(const std::string &ns, const std::string &name) {
  return modify_vm(ns, name, [&](json &vm, const json *vmi) {
    const std::string strategy = run_strategy(vm);
    if (strategy == "Always") {
      if (vmi != nullptr && !vmi_final(*vmi))
        refuse(grpc::StatusCode::FAILED_PRECONDITION, "VM is already running");
      // A final VMI is replaced by the reconciler (back-off permitting).
      return;
    }
    if (strategy == "Once")
      refuse(grpc::StatusCode::FAILED_PRECONDITION, "Once does not support manual start requests");
    if (strategy == "Halted") {
      set_strategy(vm, "Always");
      return;
    }
    // Manual, RerunOnFailure.
    if (vmi != nullptr && !vmi_final(*vmi))
      refuse(grpc::StatusCode::FAILED_PRECONDITION, "VM is already running");
    if (vmi != nullptr) {
      add_requests(vm, {json{{"action", "Stop"}, {"uid", str_at(*vmi, Pointer("/metadata/uid"))}},
                        json{{"action", "Start"}}});
    } else {
      add_requests(vm, {json{{"action", "Start"}}});
    }
  });
}

StoredObject VmActions::stop_vm(const std::string &ns, const std::string &name, bool force) {
  std::string node, vm_id;
  auto result = modify_vm(ns, name, [&](json &vm, const json *vmi) {
    const std::string strategy = run_strategy(vm);
    if (vmi == nullptr && (strategy == "Halted" || strategy == "Manual")) {
      refuse(grpc::StatusCode::FAILED_PRECONDITION, "VM is not running");
    }
    if (vmi != nullptr) {
      node = str_at(*vmi, Pointer("/status/nodeName"));
      vm_id = str_at(*vmi, Pointer("/status/hal/vmId"));
    }
    if (strategy == "Manual") {
      add_requests(vm, {json{{"action", "Stop"}, {"uid", str_at(*vmi, Pointer("/metadata/uid"))}}});
    } else {
      set_strategy(vm, "Halted");
    }
  });
  // Forced off now; without a call (node gone or busy) the reconciler stops it as Halted says.
  if (force && !node.empty() && !vm_id.empty()) {
    NodeCallClaim claim =
        shared_.calls.wait(node, action_key(ns, name), shared_.options.rpc_timeout);
    if (claim.call) {
      v1::StopVmRequest request;
      request.set_vm_id(vm_id);
      request.set_force(true);
      v1::VmStatus status;
      if (claim.call->invoke(&v1::NodeAgent::Stub::StopVm, request, &status).ok())
        shared_.registry.set_observed(node, vm_id, status.state(), status.event_sequence());
    }
  }
  return result;
}

StoredObject VmActions::restart_vm(const std::string &ns, const std::string &name) {
  return modify_vm(ns, name, [&](json &vm, const json *vmi) {
    const std::string strategy = run_strategy(vm);
    if (strategy == "Halted")
      refuse(grpc::StatusCode::FAILED_PRECONDITION, "VM is halted; start it instead");
    if (strategy == "Once")
      refuse(grpc::StatusCode::FAILED_PRECONDITION, "Once does not support restart requests");
    if (vmi == nullptr) refuse(grpc::StatusCode::FAILED_PRECONDITION, "VM is not running");
    add_requests(vm, {json{{"action", "Stop"}, {"uid", str_at(*vmi, Pointer("/metadata/uid"))}},
                      json{{"action", "Start"}}});
  });
}

StoredObject VmActions::pause_vm(const std::string &ns, const std::string &name, bool pause) {
  auto vmi = shared_.store.get(StoreKey{kVmiKind, ns, name});
  if (!vmi)
    refuse(grpc::StatusCode::NOT_FOUND,
           "VirtualMachineInstance " + ns + "/" + name + " not found (is the VM running?)");
  if (str_at(vmi->object, Pointer("/status/phase")) != "Running") {
    refuse(grpc::StatusCode::FAILED_PRECONDITION, "VMI is not running");
  }
  if (migration_active(vmi->object)) {
    refuse(grpc::StatusCode::FAILED_PRECONDITION, "VMI is migrating");
  }
  const json *paused = find_condition(conditions_of(vmi->object), "Paused");
  const bool is_paused = paused != nullptr && paused->value("status", "") == "True";
  if (pause && is_paused) refuse(grpc::StatusCode::FAILED_PRECONDITION, "VMI is already paused");
  if (!pause && !is_paused) refuse(grpc::StatusCode::FAILED_PRECONDITION, "VMI is not paused");
  const std::string node = str_at(vmi->object, Pointer("/status/nodeName"));
  const std::string vm_id = vm_id_of(vmi->object, ns, name);
  if (shared_.registry.readiness(node) != NodeReadiness::kReady)
    refuse(grpc::StatusCode::UNAVAILABLE, "node " + node + " is not ready");
  NodeCallClaim claim = shared_.calls.wait(node, action_key(ns, name), shared_.options.rpc_timeout);
  if (!claim.call) {
    refuse(grpc::StatusCode::UNAVAILABLE,
           claim.busy ? "node " + node + " is busy: all its call slots stayed taken for " +
                            std::to_string(shared_.options.rpc_timeout.count()) + " ms"
                      : "node " + node + " is not connected");
  }
  v1::VmRef ref;
  ref.set_vm_id(vm_id);
  v1::VmStatus status;
  grpc::Status rpc = claim.call->invoke(
      pause ? &v1::NodeAgent::Stub::PauseVm : &v1::NodeAgent::Stub::ResumeVm, ref, &status);
  if (!rpc.ok())
    throw ActionError(rpc.error_code(), (pause ? "pause: " : "unpause: ") + rpc.error_message());
  shared_.registry.set_observed(node, vm_id, status.state(), status.event_sequence());
  shared_.store.commit(
      {record_event(shared_.store, StoreKey{kVmiKind, ns, name}, EventType::kNormal,
                    pause ? "Paused" : "Unpaused",
                    pause ? "VirtualMachineInstance paused" : "VirtualMachineInstance unpaused")});
  shared_.queue_object(StoreKey{kVmiKind, ns, name});
  auto vm = shared_.store.get(StoreKey{kVmKind, ns, name});
  return vm ? *vm : *shared_.store.get(StoreKey{kVmiKind, ns, name});
}

StoredObject VmActions::migrate_vm(const std::string &ns, const std::string &name,
                                   const std::string &target_node) {
  auto vmi = shared_.store.get(StoreKey{kVmiKind, ns, name});
  if (!vmi)
    refuse(grpc::StatusCode::NOT_FOUND,
           "VirtualMachineInstance " + ns + "/" + name + " not found (is the VM running?)");
  if (str_at(vmi->object, Pointer("/status/phase")) != "Running") {
    refuse(grpc::StatusCode::FAILED_PRECONDITION, "VMI " + ns + "/" + name + " is not running");
  }
  ResourceRequest request = resource_request(vmi->object.value("spec", json::object()));
  if (!request.live_migratable) {
    refuse(grpc::StatusCode::FAILED_PRECONDITION,
           request.needs_tdx ? "VMI " + ns + "/" + name +
                                   " is not live-migratable: TDX guests cannot be live-migrated"
                             : "VMI " + ns + "/" + name + " is not live-migratable");
  }
  if (!target_node.empty()) {
    if (!shared_.registry.node(target_node))
      refuse(grpc::StatusCode::NOT_FOUND, "node " + target_node + " not found");
    if (target_node == str_at(vmi->object, Pointer("/status/nodeName"))) {
      refuse(grpc::StatusCode::INVALID_ARGUMENT, "VMI already runs on node " + target_node);
    }
  }
  json metadata{{"name", name + "-migration-" + new_uid().substr(0, 5)},
                {"namespace", ns},
                {"uid", new_uid()},
                {"creationTimestamp", now_rfc3339()},
                {"generation", 1}};
  if (!target_node.empty()) metadata["annotations"]["hal.dev/target-node"] = target_node;
  json vmim{{"apiVersion", "kubevirt.io/v1"},
            {"kind", kVmimKind},
            {"metadata", metadata},
            {"spec", {{"vmiName", name}}},
            {"status", {{"phase", "Pending"}}}};
  auto written = shared_.store.create(key_of(vmim), vmim);
  shared_.queue_object(written.key);
  return written;
}

DrainResult VmActions::drain(const std::string &node, bool cordon_only, bool uncordon) {
  DrainResult result;
  if (!shared_.registry.node(node))
    refuse(grpc::StatusCode::NOT_FOUND, "node " + node + " not found");
  if (uncordon) {
    shared_.registry.set_unschedulable(node, false);
    for (const auto &vmi : shared_.store.list(kVmiKind, "")) {
      std::string phase = str_at(vmi.object, Pointer("/status/phase"));
      if (phase.empty() || phase == "Pending") shared_.queue_object(vmi.key);
    }
    return result;
  }
  shared_.registry.set_unschedulable(node, true);
  if (cordon_only) return result;
  for (const auto &vmi : shared_.store.list(kVmiKind, "")) {
    if (str_at(vmi.object, Pointer("/status/nodeName")) != node) continue;
    std::string phase = str_at(vmi.object, Pointer("/status/phase"));
    if (phase != "Running" && phase != "Scheduled") continue;
    const std::string label = vmi.key.ns + "/" + vmi.key.name;
    std::string strategy = vmi.object["spec"].value("evictionStrategy", "None");
    ResourceRequest request = resource_request(vmi.object.value("spec", json::object()));
    bool migratable = request.live_migratable && phase == "Running";
    if ((strategy == "LiveMigrate" || strategy == "LiveMigrateIfPossible") && migratable) {
      if (migration_active(vmi.object)) {
        result.skipped.push_back(label + ": already migrating");
        continue;
      }
      try {
        result.migrations.push_back(migrate_vm(vmi.key.ns, vmi.key.name, ""));
      } catch (const ActionError &e) {
        result.skipped.push_back(label + ": " + e.what());
      }
      continue;
    }
    if (strategy == "LiveMigrate") {
      result.skipped.push_back(label +
                               ": evictionStrategy LiveMigrate but the VMI is not live-migratable" +
                               (request.needs_tdx ? " (TDX)" : "") + "; left running");
      continue;
    }
    if (strategy == "External") {
      result.skipped.push_back(label +
                               ": evictionStrategy External: left to an external controller");
      continue;
    }
    // None, or LiveMigrateIfPossible without migration: the VMI is shut down; its VM's run
    // strategy decides whether it starts again elsewhere.
    try {
      delete_object(vmi.key);
      result.skipped.push_back(
          label + ": evictionStrategy " + strategy + ": stopped" +
          (strategy == "LiveMigrateIfPossible" ? " (not live-migratable)" : ""));
    } catch (const std::exception &e) {
      result.skipped.push_back(label + ": cannot stop: " + e.what());
    }
  }
  shared_.store.commit(
      {record_event(shared_.store, StoreKey{kNodeKind, "", node}, EventType::kNormal, "Drain",
                    "Node " + node + " drained: " + std::to_string(result.migrations.size()) +
                        " migrations, " + std::to_string(result.skipped.size()) + " other VMIs")});
  return result;
}

std::pair<NodeSnapshot, std::string> VmActions::console(const std::string &ns,
                                                        const std::string &name) {
  auto vmi = shared_.store.get(StoreKey{kVmiKind, ns, name});
  if (!vmi)
    refuse(grpc::StatusCode::NOT_FOUND,
           "VirtualMachineInstance " + ns + "/" + name + " not found (is the VM running?)");
  const std::string node = str_at(vmi->object, Pointer("/status/nodeName"));
  auto snapshot = shared_.registry.node(node);
  if (node.empty() || !snapshot)
    refuse(grpc::StatusCode::FAILED_PRECONDITION, "VMI is not scheduled on a node");
  return {*snapshot, vm_id_of(vmi->object, ns, name)};
}

StoredObject VmActions::delete_object(const StoreKey &key) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto stored = shared_.store.get(key);
    if (!stored) refuse(grpc::StatusCode::NOT_FOUND, key.str() + " not found");
    bool graceful = false;
    if (key.kind == kVmKind) {
      graceful = shared_.store.get(StoreKey{kVmiKind, key.ns, key.name}).has_value();
    } else if (key.kind == kVmiKind) {
      graceful = true;
    } else if (key.kind == kVmimKind) {
      std::string phase = str_at(stored->object, Pointer("/status/phase"));
      graceful = phase == "Running";
    }
    try {
      if (graceful) {
        if (stored->object["metadata"].contains("deletionTimestamp")) return *stored;
        json object = stored->object;
        object["metadata"]["deletionTimestamp"] = now_rfc3339();
        auto written = shared_.store.update(key, object, stored->version);
        shared_.queue_object(key);
        return written;
      }
      std::vector<StoreWrite> writes{
          StoreWrite{StoreWrite::Op::kDelete, key, json(), stored->version, false}};
      for (auto &w : delete_events(shared_.store, key)) writes.push_back(std::move(w));
      shared_.store.commit(writes);
      if (key.kind == kNodeKind) shared_.registry.forget(key.name);
      return *stored;
    } catch (const StoreError &e) {
      if (e.code() != StoreErrorCode::kConflict) throw;
    }
  }
  refuse(grpc::StatusCode::ABORTED, key.str() + " keeps changing; try again");
}

}  // namespace hal::controller
