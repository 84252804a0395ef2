// migration_controller.cc - VirtualMachineInstanceMigration orchestration: KubeVirt's limits
// (parallel per cluster, outbound per node), target picked by the scheduler without the source
// (or the requested node), PrepareIncoming on the target → SendMigration on the source →
// progress polled into status.progress → on success the VMI moves to the target and the
// source's leftover VM is deleted; on failure or timeout the migration is cancelled and the
// source keeps running. Non-migratable VMIs (TDX, ...) are refused with a condition.
#include "controller/server/controller.h"
#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "controller/server/run_strategy.h"
#include "core/log/log.h"

namespace hal::controller {

using nlohmann::json;
using Pointer = json::json_pointer;

namespace {

const char *const kTargetAnnotation = "hal.dev/target-node";

json parse_or_empty(const std::string &text) {
  try {
    return text.empty() ? json::object() : json::parse(text);
  } catch (const json::exception &) {
    return json::object();
  }
}

}  // namespace

void Controller::finish_migration(const StoreKey &vmim_key, json &vmim, json &vmi, bool succeeded,
                                  const std::string &reason, std::vector<StoreWrite> &writes) {
  const std::string ns = vmim_key.ns;
  const std::string vmi_name = str_at(vmim, Pointer("/spec/vmiName"));
  const std::string vm_id = vm_id_for(ns, vmi_name);
  const std::string source = str_at(vmim, Pointer("/status/migrationState/sourceNode"));
  const std::string target = str_at(vmim, Pointer("/status/migrationState/targetNode"));
  const StoreKey vmi_key{kVmiKind, ns, vmi_name};
  auto call = [&](const std::string &node, auto &&body) {
    auto connection = registry_.connection(node);
    if (connection && registry_.readiness(node) == NodeReadiness::kReady) body(*connection);
  };
  const std::string now = now_rfc3339();
  if (succeeded) {
    // The source's leftover (Migrated) VM goes; the VMI now lives on the target.
    call(source, [&](NodeConnection &connection) {
      v1::DeleteVmRequest request;
      request.set_vm_id(vm_id);
      v1::DeleteVmResponse response;
      auto context = rpc_context(options_.rpc_timeout);
      connection.stub().DeleteVm(context.get(), request, &response);
    });
    registry_.set_observed(source, vm_id, "");
    if (registry_.observed(target, vm_id).value_or("").empty()) {
      registry_.set_observed(target, vm_id, "Running");
    }
    ResourceRequest request = resource_request(vmi.value("spec", json::object()));
    std::vector<uint32_t> host_cpus;
    {
      std::lock_guard lock(mutex_);
      if (auto it = target_placements_.find(vmim_key); it != target_placements_.end()) {
        host_cpus = it->second.host_cpus;
      }
    }
    place(vmi_key, Placement{target, request.vcpus, request.memory_bytes, host_cpus});
    if (!vmi.is_null()) {
      if (host_cpus.empty()) {
        vmi["status"]["hal"].erase("hostCpus");
      } else {
        vmi["status"]["hal"]["hostCpus"] = host_cpus;
      }
    }
    schedule_node_flush(source);
    schedule_node_flush(target);
  } else {
    call(source, [&](NodeConnection &connection) {
      v1::CancelMigrationRequest request;
      request.set_vm_id(vm_id);
      v1::CancelMigrationResponse response;
      auto context = rpc_context(options_.rpc_timeout);
      connection.stub().CancelMigration(context.get(), request, &response);
    });
    if (!target.empty()) {
      call(target, [&](NodeConnection &connection) {
        v1::DeleteVmRequest request;
        request.set_vm_id(vm_id);
        v1::DeleteVmResponse response;
        auto context = rpc_context(options_.rpc_timeout);
        connection.stub().DeleteVm(context.get(), request, &response);
      });
      registry_.set_observed(target, vm_id, "");
    }
  }
  unplace_target(vmim_key);
  {
    std::lock_guard lock(mutex_);
    migrating_.erase(vm_id);
  }
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
  writes.push_back(record_event(store_, vmim_key,
                                succeeded ? EventType::kNormal : EventType::kWarning,
                                succeeded ? "Migrated" : "FailedMigration", reason));
  if (!vmi.is_null()) {
    if (succeeded) {
      vmi["status"]["nodeName"] = target;
      vmi["status"]["hal"]["state"] = "Running";
    }
    vmi["status"]["migrationState"] = state;
    writes.push_back(record_event(store_, vmi_key,
                                  succeeded ? EventType::kNormal : EventType::kWarning,
                                  succeeded ? "Migrated" : "FailedMigration", reason));
  }
  hal::log("controller")
      ->info("{}: migration {} ({})", vmim_key.str(), succeeded ? "succeeded" : "failed", reason);
}

std::string Controller::running_machine(NodeConnection &connection, const std::string &vm_id) {
  v1::VmRef ref;
  ref.set_vm_id(vm_id);
  v1::VmStatus status;
  auto context = rpc_context(options_.rpc_timeout);
  grpc::Status rpc = connection.stub().GetVm(context.get(), ref, &status);
  if (!rpc.ok()) {
    hal::log("controller")
        ->warn("{}: cannot read its machine type: {}", vm_id, rpc.error_message());
    return "";
  }
  return str_at(parse_or_empty(status.info_json()), Pointer("/spec/machine"));
}

WorkResult Controller::reconcile_migration(const std::string &ns, const std::string &name) {
  const StoreKey key{kVmimKind, ns, name};
  auto stored = store_.get(key);
  if (!stored) return WorkResult::done();
  json vmim = stored->object;
  const std::string phase = str_at(vmim, Pointer("/status/phase"));
  const std::string vmi_name = str_at(vmim, Pointer("/spec/vmiName"));
  const StoreKey vmi_key{kVmiKind, ns, vmi_name};
  const StoreKey vm_key{kVmKind, ns, vmi_name};
  auto vmi_stored = store_.get(vmi_key);
  json vmi = vmi_stored ? vmi_stored->object : json();
  auto vm_stored = store_.get(vm_key);
  const std::string vm_id = vm_id_for(ns, vmi_name);
  std::vector<StoreWrite> writes;
  const bool deleting = vmim["metadata"].contains("deletionTimestamp");
  bool vmi_changed = false;

  auto commit = [&](bool remove_vmim) {
    if (remove_vmim) {
      writes.push_back(StoreWrite{StoreWrite::Op::kDelete, key, json(), stored->version, true});
      for (auto &w : delete_events(store_, key)) writes.push_back(std::move(w));
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
        store_.commit(writes);
        return;
      } catch (const StoreError &e) {
        // The instance reconciler wrote the VMI/VM meanwhile: re-apply the migration's part of
        // the VMI on the fresh copy (node-side effects already happened and must be recorded).
        if (e.code() != StoreErrorCode::kConflict || attempt >= 8 || !vmi_changed) throw;
        auto fresh = store_.get(vmi_key);
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
        vm_stored = store_.get(vm_key);
      }
    }
  };
  auto fail = [&](const std::string &reason, const std::string &message) {
    vmim["status"]["phase"] = "Failed";
    set_condition(vmim["status"]["conditions"], "Failed", true, reason, message);
    writes.push_back(record_event(store_, key, EventType::kWarning, "FailedMigration", message));
  };

  if (phase == "Succeeded" || phase == "Failed") {
    if (deleting) commit(true);
    return WorkResult::done();
  }
  if (phase == "Running") {
    if (deleting) {
      finish_migration(key, vmim, vmi, false,
                       "migration cancelled: the migration object was deleted", writes);
      vmi_changed = !vmi.is_null();
      commit(true);
      return WorkResult::done();
    }
    if (vmi.is_null()) {
      finish_migration(key, vmim, vmi, false, "the VMI was deleted during the migration", writes);
      commit(false);
      return WorkResult::done();
    }
    const std::string source = str_at(vmim, Pointer("/status/migrationState/sourceNode"));
    const std::string target = str_at(vmim, Pointer("/status/migrationState/targetNode"));
    if (registry_.readiness(source) == NodeReadiness::kNotReady ||
        registry_.readiness(target) == NodeReadiness::kNotReady) {
      finish_migration(key, vmim, vmi, false, "a node of the migration is not ready", writes);
      vmi_changed = true;
      commit(false);
      return WorkResult::done();
    }
    auto connection = registry_.connection(source);
    if (!connection) return WorkResult::retry();
    auto slot = call_slots_.try_claim(source, "vmim/" + ns + "/" + name);
    if (!slot) return WorkResult::after(kSlotRecheck);  // or when a call to the node ends
    v1::VmRef ref;
    ref.set_vm_id(vm_id);
    v1::MigrationProgress answer;
    auto context = rpc_context(options_.rpc_timeout);
    grpc::Status rpc = connection->stub().GetMigrationProgress(context.get(), ref, &answer);
    if (!rpc.ok()) {
      hal::log("controller")->warn("{}: progress: {}", key.str(), rpc.error_message());
      return WorkResult::retry();
    }
    json progress = parse_or_empty(answer.progress_json());
    const std::string status = progress.value("status", "");
    const int64_t now_ms = unix_ms_now();
    auto &hal = vmim["status"]["hal"];
    const int64_t transferred = progress.value("transferredBytes", int64_t{0});
    const int64_t remaining = progress.value("remainingBytes", int64_t{0});
    const int64_t total = progress.value("totalBytes", transferred + remaining);
    if (status == "completed") {
      finish_migration(key, vmim, vmi, true, "migrated from node " + source + " to node " + target,
                       writes);
      vmi_changed = true;
      commit(false);
      return WorkResult::done();
    }
    if (status == "failed" || status == "cancelled") {
      finish_migration(
          key, vmim, vmi, false,
          "migration " + status + ": " + progress.value("error", std::string("(no detail)")),
          writes);
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
        gib * static_cast<double>(options_.migration.completion_timeout_per_gib.count()));
    std::string timeout;
    if (now_ms - hal.value("lastProgressUnixMs", now_ms) >
        options_.migration.progress_timeout.count()) {
      timeout = "no progress for " + std::to_string(options_.migration.progress_timeout.count()) +
                " ms (progressTimeout)";
    } else if (now_ms - start_ms > completion_ms) {
      timeout = "not completed within " + std::to_string(completion_ms) +
                " ms (completionTimeoutPerGiB " +
                std::to_string(options_.migration.completion_timeout_per_gib.count()) + " ms)";
    }
    if (!timeout.empty()) {
      finish_migration(key, vmim, vmi, false, "migration cancelled: " + timeout, writes);
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
    return WorkResult::after(options_.migration.poll_interval);
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
  if (migration_active_for(vmi)) {
    fail("MigrationInProgress", "another migration of " + vmi_name + " is in progress");
    commit(false);
    return WorkResult::done();
  }
  const std::string source = str_at(vmi, Pointer("/status/nodeName"));
  json hal_spec;
  try {
    if (!request.dedicated_cpus) hal_spec = to_hal_spec(spec, translation(vm_id));
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
    std::lock_guard lock(schedule_mutex_);
    // KubeVirt's limits, checked and reserved atomically with the target.
    const bool at_cluster_limit = active_migrations("") >= options_.migration.parallel_per_cluster;
    const bool at_node_limit =
        active_migrations(source) >= options_.migration.parallel_outbound_per_node;
    if (at_cluster_limit || at_node_limit) {
      std::string message =
          at_cluster_limit
              ? "waiting: " + std::to_string(options_.migration.parallel_per_cluster) +
                    " migrations run in the cluster (parallelMigrationsPerCluster)"
              : "waiting: " + std::to_string(options_.migration.parallel_outbound_per_node) +
                    " outbound migrations run on node " + source +
                    " (parallelOutboundMigrationsPerNode)";
      bool changed = vmim["status"].value("phase", "") != "Pending";
      vmim["status"]["phase"] = "Pending";
      changed |=
          set_condition(vmim["status"]["conditions"], "Queued", true, "MigrationLimit", message);
      if (changed) commit(false);
      return WorkResult::after(std::chrono::milliseconds(200));
    }
    const std::vector<SchedulerNode> &nodes = scheduler_nodes();
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
        hal_spec = hal_spec_for(spec, vm_id, target, request, &host_cpus);
      } catch (const std::exception &e) {
        fail("FailedScheduling", std::string("no target node: ") + e.what());
        commit(false);
        return WorkResult::done();
      }
    }
    place_target(key, Placement{target, request.vcpus, request.memory_bytes, host_cpus}, source);
  }
  (void)kTargetAnnotation;
  auto target_connection = registry_.connection(target);
  auto source_connection = registry_.connection(source);
  if (!target_connection || !source_connection) {
    unplace_target(key);
    return WorkResult::retry();
  }
  auto target_slot = call_slots_.try_claim(target, "vmim/" + ns + "/" + name);
  auto source_slot =
      target_slot ? call_slots_.try_claim(source, "vmim/" + ns + "/" + name) : std::nullopt;
  if (!source_slot) {  // queued again when a call to the busy node ends, or after a while
    unplace_target(key);
    return WorkResult::after(kSlotRecheck);
  }
  {
    std::lock_guard lock(mutex_);
    migrating_[vm_id] = key;
  }
  // The target runs the machine type the source runs (a backend pins one at creation, and a
  // newer hypervisor on the target would otherwise pick a newer one the guest cannot move to).
  if (std::string machine = running_machine(*source_connection, vm_id); !machine.empty())
    hal_spec["machine"] = machine;
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend(backend);
  prepare.set_spec_json(hal_spec.dump());
  v1::PrepareIncomingResponse endpoint;
  auto context = rpc_context(options_.rpc_timeout);
  grpc::Status rpc = target_connection->stub().PrepareIncoming(context.get(), prepare, &endpoint);
  std::string uri;
  if (rpc.ok()) uri = parse_or_empty(endpoint.endpoint_json()).value("uri", "");
  if (!rpc.ok() || uri.empty()) {
    unplace_target(key);
    {
      std::lock_guard lock(mutex_);
      migrating_.erase(vm_id);
    }
    fail("FailedPrepareTarget", "preparing the target on node " + target + " failed: " +
                                    (rpc.ok() ? "no uri in the endpoint" : rpc.error_message()));
    commit(false);
    return WorkResult::done();
  }
  v1::SendMigrationRequest send;
  send.set_vm_id(vm_id);
  send.set_params_json(json{{"uri", uri}}.dump());
  v1::VmStatus sent;
  auto send_context = rpc_context(options_.rpc_timeout);
  rpc = source_connection->stub().SendMigration(send_context.get(), send, &sent);
  const std::string now = now_rfc3339();
  json state{{"sourceNode", source},  {"targetNode", target},
             {"startTimestamp", now}, {"migrationUid", str_at(vmim, Pointer("/metadata/uid"))},
             {"mode", "PreCopy"},     {"completed", false},
             {"failed", false}};
  vmim["status"]["migrationState"] = state;
  if (!rpc.ok()) {
    finish_migration(key, vmim, vmi, false,
                     "sending from node " + source + " failed: " + rpc.error_message(), writes);
    commit(false);
    return WorkResult::done();
  }
  vmim["status"]["phase"] = "Running";
  vmim["status"]["progress"] = {
      {"dataProcessedBytes", 0}, {"dataRemainingBytes", request.memory_bytes}, {"percent", 0}};
  vmim["status"]["hal"] = {{"startUnixMs", unix_ms_now()},
                           {"lastProgressUnixMs", unix_ms_now()},
                           {"memoryBytes", request.memory_bytes},
                           {"targetBackend", backend}};
  remove_condition(vmim["status"]["conditions"], "Queued");
  vmi["status"]["migrationState"] = state;
  vmi_changed = true;
  writes.push_back(
      record_event(store_, key, EventType::kNormal, "Migrating",
                   "migrating " + vmi_name + " from node " + source + " to node " + target));
  commit(false);
  return WorkResult::after(options_.migration.poll_interval);
}

}  // namespace hal::controller

namespace hal::controller {

bool Controller::migration_active_for(const nlohmann::json &vmi) {
  if (!vmi.contains("status") || !vmi["status"].contains("migrationState")) return false;
  const auto &state = vmi["status"]["migrationState"];
  return !state.value("completed", false) && !state.value("failed", false);
}

}  // namespace hal::controller
