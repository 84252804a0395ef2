// migration_reconciler.cc - VirtualMachineInstanceMigration orchestration: KubeVirt's limits
// (parallel per cluster, outbound per node), target picked by the scheduler without the source
// (or the requested node), PrepareIncoming on the target → SendMigration on the source →
// progress polled into status.progress → on success the VMI moves to the target and the
// source's leftover VM is deleted; on failure or timeout the migration is cancelled and the
// source keeps running. Non-migratable VMIs (TDX, ...) are refused with a condition.
#include "controller/server/migration_reconciler.h"

#include <algorithm>

#include "controller/server/agent_liveness.h"
#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "controller/server/run_strategy.h"
#include "core/log/log.h"

namespace hal::controller {

using nlohmann::json;
using Pointer = json::json_pointer;

namespace {

json parse_or_empty(const std::string &text) {
  try {
    return text.empty() ? json::object() : json::parse(text);
  } catch (const json::exception &) {
    return json::object();
  }
}

}  // namespace

bool MigrationReconciler::finish_migration(const StoreKey &vmim_key, json &vmim, json &vmi,
                                           bool succeeded, const std::string &reason,
                                           std::vector<StoreWrite> &writes,
                                           const std::set<std::string> &unreachable) {
  const std::string ns = vmim_key.ns;
  const std::string vmi_name = str_at(vmim, Pointer("/spec/vmiName"));
  const std::string vm_id = vm_id_of(vmi, ns, vmi_name);
  const std::string source = str_at(vmim, Pointer("/status/migrationState/sourceNode"));
  const std::string target = str_at(vmim, Pointer("/status/migrationState/targetNode"));
  const StoreKey vmi_key{kVmiKind, ns, vmi_name};
  // The node calls first: without a free slot nothing changes, and the migration waits for one.
  std::optional<NodeCall> source_call, target_call;
  auto claim = [&](const std::string &node, std::optional<NodeCall> &call) {
    if (node.empty() || shared_.registry.readiness(node) != NodeReadiness::kReady ||
        unreachable.count(node) > 0)
      return true;
    NodeCallClaim granted = shared_.calls.claim(node, migration_queue_key(ns, vmim_key.name));
    if (granted.call) call.emplace(std::move(*granted.call));
    return !granted.busy;
  };
  if (!claim(source, source_call) || (!succeeded && !claim(target, target_call))) return false;
  const std::string now = now_rfc3339();
  if (succeeded) {
    // The source's leftover (Migrated) VM goes; the VMI now lives on the target.
    if (source_call) {
      v1::DeleteVmRequest request;
      request.set_vm_id(vm_id);
      v1::DeleteVmResponse response;
      source_call->invoke(&v1::NodeAgent::Stub::DeleteVm, request, &response);
    }
    shared_.registry.set_observed(source, vm_id, "");
    if (shared_.registry.observed(target, vm_id).value_or("").empty()) {
      shared_.registry.set_observed(target, vm_id, "Running");
    }
    ResourceRequest request = resource_request(vmi.value("spec", json::object()));
    std::vector<uint32_t> host_cpus = shared_.placements.target_host_cpus(vmim_key);
    shared_.placements.place(vmi_key,
                             Placement{target, request.vcpus, request.memory_bytes, host_cpus});
    if (!vmi.is_null()) {
      if (host_cpus.empty()) {
        vmi["status"]["hal"].erase("hostCpus");
      } else {
        vmi["status"]["hal"]["hostCpus"] = host_cpus;
      }
    }
    shared_.schedule_node_flush(source);
    shared_.schedule_node_flush(target);
  } else {
    if (source_call) {
      v1::CancelMigrationRequest request;
      request.set_vm_id(vm_id);
      v1::CancelMigrationResponse response;
      source_call->invoke(&v1::NodeAgent::Stub::CancelMigration, request, &response);
    }
    if (target_call) {
      v1::DeleteVmRequest request;
      request.set_vm_id(vm_id);
      v1::DeleteVmResponse response;
      target_call->invoke(&v1::NodeAgent::Stub::DeleteVm, request, &response);
    }
    if (!target.empty()) shared_.registry.set_observed(target, vm_id, "");
  }
  shared_.placements.unplace_target(vmim_key);
  shared_.placements.clear_migrating(vm_id);
  auto &state = vmim["status"]["migrationState"];
  state["endTimestamp"] = now;
  state["completed"] = succeeded;
  state["failed"] = !succeeded;
  vmim["status"]["phase"] = succeeded ? "Succeeded" : "Failed";
  if (succeeded) {
    auto &progress = vmim["status"]["progress"];
    progress["percent"] = 100;
    progress["dataRemainingBytes"] = 0;
  }
  set_condition(vmim["status"]["conditions"], succeeded ? "Succeeded" : "Failed", true,
                succeeded ? "Migrated" : "MigrationFailed", reason);
  writes.push_back(record_event(shared_.store, vmim_key,
                                succeeded ? EventType::kNormal : EventType::kWarning,
                                succeeded ? "Migrated" : "FailedMigration", reason));
  if (!vmi.is_null()) {
    if (succeeded) {
      vmi["status"]["nodeName"] = target;
      vmi["status"]["hal"]["state"] = "Running";
    }
    vmi["status"]["migrationState"] = state;
    writes.push_back(record_event(shared_.store, vmi_key,
                                  succeeded ? EventType::kNormal : EventType::kWarning,
                                  succeeded ? "Migrated" : "FailedMigration", reason));
  }
  hal::log("controller")
      ->info("{}: migration {} ({})", vmim_key.str(), succeeded ? "succeeded" : "failed", reason);
  return true;
}

bool MigrationReconciler::runs_guest(const std::string &node, const std::string &vm_id,
                                     const std::string &key) {
  NodeCallClaim claim = shared_.calls.claim(node, key);
  if (!claim.call) return false;
  v1::VmRef ref;
  ref.set_vm_id(vm_id);
  v1::VmStatus status;
  return claim.call->invoke(&v1::NodeAgent::Stub::GetVm, ref, &status).ok() &&
         state_is(status.state(), "Running");
}

std::string MigrationReconciler::running_machine(NodeCall &call, const std::string &vm_id) {
  v1::VmRef ref;
  ref.set_vm_id(vm_id);
  v1::VmStatus status;
  grpc::Status rpc = call.invoke(&v1::NodeAgent::Stub::GetVm, ref, &status);
  if (!rpc.ok()) {
    hal::log("controller")
        ->warn("{}: cannot read its machine type: {}", vm_id, rpc.error_message());
    return "";
  }
  return str_at(parse_or_empty(status.info_json()), Pointer("/spec/machine"));
}

WorkResult MigrationReconciler::reconcile(const std::string &ns, const std::string &name) {
  const StoreKey key{kVmimKind, ns, name};
  auto stored = shared_.store.get(key);
  if (!stored) return WorkResult::done();
  json vmim = stored->object;
  const std::string phase = str_at(vmim, Pointer("/status/phase"));
  const std::string vmi_name = str_at(vmim, Pointer("/spec/vmiName"));
  const StoreKey vmi_key{kVmiKind, ns, vmi_name};
  const StoreKey vm_key{kVmKind, ns, vmi_name};
  auto vmi_stored = shared_.store.get(vmi_key);
  json vmi = vmi_stored ? vmi_stored->object : json();
  auto vm_stored = shared_.store.get(vm_key);
  const std::string vm_id = vm_id_of(vmi, ns, vmi_name);
  std::vector<StoreWrite> writes;
  const bool deleting = vmim["metadata"].contains("deletionTimestamp");
  bool vmi_changed = false;

  auto commit = [&](bool remove_vmim) {
    if (remove_vmim) {
      writes.push_back(StoreWrite{StoreWrite::Op::kDelete, key, json(), stored->version, true});
      for (auto &w : delete_events(shared_.store, key)) writes.push_back(std::move(w));
      std::erase_if(writes, [&](const StoreWrite &w) {
        return w.key.kind == kEventKind && w.op != StoreWrite::Op::kDelete &&
               w.object["involvedObject"].value("kind", "") == kVmimKind &&
               w.object["involvedObject"].value("name", "") == name;
      });
    } else {
      writes.insert(writes.begin(),
                    StoreWrite{StoreWrite::Op::kUpdate, key, vmim, stored->version, false});
    }
    const size_t base = writes.size();
    for (int attempt = 0;; ++attempt) {
      writes.resize(base);
      if (vmi_changed && vmi_stored) {
        writes.push_back(
            StoreWrite{StoreWrite::Op::kUpdate, vmi_key, vmi, vmi_stored->version, false});
        if (vm_stored) {
          json vm = vm_stored->object;
          if (sync_vm_status(vm, &vmi, unix_ms_now())) {
            writes.push_back(
                StoreWrite{StoreWrite::Op::kUpdate, vm_key, vm, vm_stored->version, false});
          }
        }
      }
      try {
        shared_.store.commit(writes);
        return;
      } catch (const StoreError &e) {
        // The instance reconciler wrote the VMI/VM meanwhile: re-apply the migration's part of
        // the VMI on the fresh copy (node-side effects already happened and must be recorded).
        if (e.code() != StoreErrorCode::kConflict || attempt >= 8 || !vmi_changed) throw;
        auto fresh = shared_.store.get(vmi_key);
        if (!fresh) throw;
        json merged = fresh->object;
        for (const char *field : {"migrationState", "nodeName"}) {
          if (vmi["status"].contains(field)) merged["status"][field] = vmi["status"][field];
        }
        if (vmi["status"].contains("hal"))
          merged["status"]["hal"]["state"] = vmi["status"]["hal"].value("state", "");
        if (const json *condition = find_condition(conditions_of(vmi), "LiveMigratable")) {
          set_condition(merged["status"]["conditions"], "LiveMigratable",
                        condition->value("status", "") == "True", condition->value("reason", ""),
                        condition->value("message", ""));
        }
        vmi = merged;
        vmi_stored = fresh;
        vm_stored = shared_.store.get(vm_key);
      }
    }
  };
  auto fail = [&](const std::string &reason, const std::string &message) {
    vmim["status"]["phase"] = "Failed";
    set_condition(vmim["status"]["conditions"], "Failed", true, reason, message);
    writes.push_back(
        record_event(shared_.store, key, EventType::kWarning, "FailedMigration", message));
  };

  if (phase == "Succeeded" || phase == "Failed") {
    if (deleting) commit(true);
    return WorkResult::done();
  }
  if (phase == "Running") {
    if (deleting) {
      if (!finish_migration(key, vmim, vmi, false,
                            "migration cancelled: the migration object was deleted", writes))
        return WorkResult::after(kSlotRecheck);
      vmi_changed = !vmi.is_null();
      commit(true);
      return WorkResult::done();
    }
    if (vmi.is_null()) {
      if (!finish_migration(key, vmim, vmi, false, "the VMI was deleted during the migration",
                            writes))
        return WorkResult::after(kSlotRecheck);
      commit(false);
      return WorkResult::done();
    }
    const std::string source = str_at(vmim, Pointer("/status/migrationState/sourceNode"));
    const std::string target = str_at(vmim, Pointer("/status/migrationState/targetNode"));
    // A side whose agent is gone ends the migration now, not at the progress timeout.
    const json &started = vmim["status"]["hal"];
    const auto lost_after = shared_.options.migration.agent_lost_after;
    const std::string source_lost =
        agent_lost(shared_.registry, source, started.value("sourceBootId", int64_t{0}), lost_after);
    const std::string target_lost =
        agent_lost(shared_.registry, target, started.value("targetBootId", int64_t{0}), lost_after);
    if (!source_lost.empty() || !target_lost.empty()) {
      std::set<std::string> unreachable;
      if (!source_lost.empty()) unreachable.insert(source);
      if (!target_lost.empty()) unreachable.insert(target);
      // Without its source the guest lives on only where it already runs: the target wins when
      // the transfer completed, else the source keeps it.
      const bool target_won = !source_lost.empty() && target_lost.empty() &&
                              runs_guest(target, vm_id, migration_queue_key(ns, name));
      const std::string reason =
          target_won ? "migrated to node " + target + "; the agent of source node " + source + " " +
                           source_lost
          : !source_lost.empty()
              ? "migration failed: the agent of source node " + source + " " + source_lost
              : "migration failed: the agent of target node " + target + " " + target_lost;
      if (!finish_migration(key, vmim, vmi, target_won, reason, writes, unreachable))
        return WorkResult::after(kSlotRecheck);
      vmi_changed = true;
      commit(false);
      return WorkResult::done();
    }
    NodeCallClaim claim = shared_.calls.claim(source, migration_queue_key(ns, name));
    if (claim.busy) return WorkResult::after(kSlotRecheck);  // or when a call to the node ends
    if (!claim.call) return WorkResult::retry();
    v1::VmRef ref;
    ref.set_vm_id(vm_id);
    v1::MigrationProgress answer;
    grpc::Status rpc = claim.call->invoke(&v1::NodeAgent::Stub::GetMigrationProgress, ref, &answer);
    if (!rpc.ok()) {
      hal::log("controller")->warn("{}: progress: {}", key.str(), rpc.error_message());
      // Soon again: a lost agent is told by its connection within seconds (above).
      return WorkResult::after(std::min(lost_after / 4, std::chrono::milliseconds(500)));
    }
    json progress = parse_or_empty(answer.progress_json());
    const std::string status = progress.value("status", "");
    const int64_t now_ms = unix_ms_now();
    auto &hal = vmim["status"]["hal"];
    const int64_t transferred = progress.value("transferredBytes", int64_t{0});
    const int64_t remaining = progress.value("remainingBytes", int64_t{0});
    const int64_t total = progress.value("totalBytes", transferred + remaining);
    if (status == "completed") {
      if (!finish_migration(key, vmim, vmi, true,
                            "migrated from node " + source + " to node " + target, writes))
        return WorkResult::after(kSlotRecheck);
      vmi_changed = true;
      commit(false);
      return WorkResult::done();
    }
    if (status == "failed" || status == "cancelled") {
      if (!finish_migration(
              key, vmim, vmi, false,
              "migration " + status + ": " + progress.value("error", std::string("(no detail)")),
              writes))
        return WorkResult::after(kSlotRecheck);
      vmi_changed = true;
      commit(false);
      return WorkResult::done();
    }
    // Timeouts (KubeVirt progressTimeout and completionTimeoutPerGiB).
    const int64_t last_remaining = hal.value("lastRemainingBytes", int64_t{-1});
    if (last_remaining < 0 || remaining < last_remaining ||
        transferred > hal.value("lastTransferredBytes", int64_t{0})) {
      hal["lastProgressUnixMs"] = now_ms;
      hal["lastRemainingBytes"] = remaining;
      hal["lastTransferredBytes"] = transferred;
    }
    const int64_t start_ms = hal.value("startUnixMs", now_ms);
    const double gib = std::max(
        1.0, static_cast<double>(hal.value("memoryBytes", int64_t{0})) / (1024.0 * 1024 * 1024));
    const int64_t completion_ms = static_cast<int64_t>(
        gib * static_cast<double>(shared_.options.migration.completion_timeout_per_gib.count()));
    std::string timeout;
    if (now_ms - hal.value("lastProgressUnixMs", now_ms) >
        shared_.options.migration.progress_timeout.count()) {
      timeout = "no progress for " +
                std::to_string(shared_.options.migration.progress_timeout.count()) +
                " ms (progressTimeout)";
    } else if (now_ms - start_ms > completion_ms) {
      timeout = "not completed within " + std::to_string(completion_ms) +
                " ms (completionTimeoutPerGiB " +
                std::to_string(shared_.options.migration.completion_timeout_per_gib.count()) +
                " ms)";
    }
    if (!timeout.empty()) {
      if (!finish_migration(key, vmim, vmi, false, "migration cancelled: " + timeout, writes))
        return WorkResult::after(kSlotRecheck);
      vmi_changed = true;
      commit(false);
      return WorkResult::done();
    }
    json shown{{"dataProcessedBytes", transferred},
               {"dataRemainingBytes", remaining},
               {"percent", total > 0 ? static_cast<int>(100 * transferred / total) : 0}};
    // Progress writes are coalesced to one a second.
    if (vmim["status"].value("progress", json()) != shown &&
        now_ms - hal.value("lastWriteUnixMs", int64_t{0}) >= 1000) {
      vmim["status"]["progress"] = shown;
      hal["lastWriteUnixMs"] = now_ms;
      commit(false);
    }
    return WorkResult::after(shared_.options.migration.poll_interval);
  }

  // Not started yet (phase "", Pending, or an intermediate phase left by a crash).
  if (deleting) {
    commit(true);
    return WorkResult::done();
  }
  if (!vmim["metadata"].contains("uid")) vmim["metadata"]["uid"] = new_uid();
  if (vmi.is_null() || str_at(vmi, Pointer("/status/phase")) != "Running") {
    fail("VMINotRunning", "VirtualMachineInstance " + ns + "/" + vmi_name + " is not running");
    commit(false);
    return WorkResult::done();
  }
  const json spec = vmi.value("spec", json::object());
  ResourceRequest request = resource_request(spec);
  if (!request.live_migratable) {
    std::string why =
        request.needs_tdx
            ? "TDX (launchSecurity.tdx) guests cannot be live-migrated"
            : "the VMI is not live-migratable (host devices or evictionStrategy None)";
    set_condition(vmim["status"]["conditions"], "LiveMigratable", false, "NotMigratable", why);
    fail("NotMigratable", why);
    if (set_condition(vmi["status"]["conditions"], "LiveMigratable", false, "NotMigratable", why)) {
      vmi_changed = true;
    }
    commit(false);
    return WorkResult::done();
  }
  if (migration_active(vmi)) {
    fail("MigrationInProgress", "another migration of " + vmi_name + " is in progress");
    commit(false);
    return WorkResult::done();
  }
  const std::string source = str_at(vmi, Pointer("/status/nodeName"));
  json hal_spec;
  try {
    if (!request.dedicated_cpus) hal_spec = to_hal_spec(spec, shared_.translation(vm_id));
  } catch (const std::exception &e) {
    fail("InvalidSpec", e.what());
    commit(false);
    return WorkResult::done();
  }
  SchedulingRequest scheduling;
  scheduling.resources = request;
  scheduling.node_selector = spec.value("nodeSelector", json());
  scheduling.guest_numa = guest_numa_nodes(hal_spec);
  scheduling.migration = true;
  scheduling.exclude = {source};
  scheduling.required_node = str_at(vmim, Pointer("/metadata/annotations/hal.dev~1target-node"));
  std::string target, backend;
  {
    auto placing = shared_.scheduling_lock();
    // KubeVirt's limits, checked and reserved atomically with the target.
    const bool at_cluster_limit =
        shared_.placements.active_migrations("") >= shared_.options.migration.parallel_per_cluster;
    const bool at_node_limit = shared_.placements.active_migrations(source) >=
                               shared_.options.migration.parallel_outbound_per_node;
    if (at_cluster_limit || at_node_limit) {
      std::string message =
          at_cluster_limit
              ? "waiting: " + std::to_string(shared_.options.migration.parallel_per_cluster) +
                    " migrations run in the cluster (parallelMigrationsPerCluster)"
              : "waiting: " + std::to_string(shared_.options.migration.parallel_outbound_per_node) +
                    " outbound migrations run on node " + source +
                    " (parallelOutboundMigrationsPerNode)";
      bool changed = vmim["status"].value("phase", "") != "Pending";
      vmim["status"]["phase"] = "Pending";
      changed |=
          set_condition(vmim["status"]["conditions"], "Queued", true, "MigrationLimit", message);
      if (changed) commit(false);
      return WorkResult::after(std::chrono::milliseconds(200));
    }
    const std::vector<SchedulerNode> &nodes = shared_.scheduler_nodes();
    // The source must be able to send.
    for (const auto &view : nodes) {
      if (view.name == source &&
          !(view.capabilities->is_object() &&
            view.capabilities->value("features", json::object()).value("liveMigration", false))) {
        fail("NotMigratable",
             "backend " + view.backend + " on source node " + source + " lacks live migration");
        commit(false);
        return WorkResult::done();
      }
    }
    SchedulingDecision decision = schedule(scheduling, nodes);
    if (!decision.node) {
      fail("FailedScheduling", "no target node: " + decision.message(nodes.size()));
      commit(false);
      return WorkResult::done();
    }
    target = *decision.node;
    for (const auto &view : nodes) {
      if (view.name == target) backend = view.backend;
    }
    std::vector<uint32_t> host_cpus;
    if (request.dedicated_cpus) {
      try {
        hal_spec = shared_.hal_spec_for(spec, vm_id, target, request, &host_cpus);
      } catch (const std::exception &e) {
        fail("FailedScheduling", std::string("no target node: ") + e.what());
        commit(false);
        return WorkResult::done();
      }
    }
    shared_.placements.place_target(
        key, Placement{target, request.vcpus, request.memory_bytes, host_cpus}, source);
  }
  NodeCallClaim target_claim = shared_.calls.claim(target, migration_queue_key(ns, name));
  NodeCallClaim source_claim = target_claim.call
                                   ? shared_.calls.claim(source, migration_queue_key(ns, name))
                                   : NodeCallClaim{};
  if (!target_claim.call || !source_claim.call) {
    shared_.placements.unplace_target(key);
    // A busy node queues the key again when one of its calls ends, or after a while.
    return target_claim.busy || source_claim.busy ? WorkResult::after(kSlotRecheck)
                                                  : WorkResult::retry();
  }
  NodeCall &target_call = *target_claim.call;
  NodeCall &source_call = *source_claim.call;
  shared_.placements.set_migrating(vm_id, key);
  // The target runs the machine type the source runs (a backend pins one at creation, and a
  // newer hypervisor on the target would otherwise pick a newer one the guest cannot move to).
  if (std::string machine = running_machine(source_call, vm_id); !machine.empty())
    hal_spec["machine"] = machine;
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend(backend);
  prepare.set_spec_json(hal_spec.dump());
  v1::PrepareIncomingResponse endpoint;
  grpc::Status rpc = target_call.invoke(&v1::NodeAgent::Stub::PrepareIncoming, prepare, &endpoint);
  std::string uri;
  if (rpc.ok()) uri = parse_or_empty(endpoint.endpoint_json()).value("uri", "");
  if (!rpc.ok() || uri.empty()) {
    shared_.placements.unplace_target(key);
    shared_.placements.clear_migrating(vm_id);
    fail("FailedPrepareTarget", "preparing the target on node " + target + " failed: " +
                                    (rpc.ok() ? "no uri in the endpoint" : rpc.error_message()));
    commit(false);
    return WorkResult::done();
  }
  v1::SendMigrationRequest send;
  send.set_vm_id(vm_id);
  send.set_params_json(json{{"uri", uri}}.dump());
  v1::VmStatus sent;
  rpc = source_call.invoke(&v1::NodeAgent::Stub::SendMigration, send, &sent);
  const std::string now = now_rfc3339();
  json state{{"sourceNode", source},  {"targetNode", target},
             {"startTimestamp", now}, {"migrationUid", str_at(vmim, Pointer("/metadata/uid"))},
             {"mode", "PreCopy"},     {"completed", false},
             {"failed", false}};
  vmim["status"]["migrationState"] = state;
  if (!rpc.ok()) {
    if (!finish_migration(key, vmim, vmi, false,
                          "sending from node " + source + " failed: " + rpc.error_message(),
                          writes))
      return WorkResult::after(kSlotRecheck);
    commit(false);
    return WorkResult::done();
  }
  vmim["status"]["phase"] = "Running";
  vmim["status"]["progress"] = {
      {"dataProcessedBytes", 0}, {"dataRemainingBytes", request.memory_bytes}, {"percent", 0}};
  vmim["status"]["hal"] = {{"startUnixMs", unix_ms_now()},
                           {"lastProgressUnixMs", unix_ms_now()},
                           {"memoryBytes", request.memory_bytes},
                           {"targetBackend", backend},
                           {"sourceBootId", shared_.registry.boot_id(source)},
                           {"targetBootId", shared_.registry.boot_id(target)}};
  remove_condition(vmim["status"]["conditions"], "Queued");
  vmi["status"]["migrationState"] = state;
  vmi_changed = true;
  writes.push_back(
      record_event(shared_.store, key, EventType::kNormal, "Migrating",
                   "migrating " + vmi_name + " from node " + source + " to node " + target));
  commit(false);
  return WorkResult::after(shared_.options.migration.poll_interval);
}

}  // namespace hal::controller
