// instance_reconciler.cc - the level-triggered reconciler of a VirtualMachine and its
// VirtualMachineInstance (same namespace/name, one queue key): runStrategy decisions, VMI
// creation, termination and status, and the VM status derived from them, written as one store
// transaction per pass.
#include "controller/server/instance_reconciler.h"

#include <algorithm>

#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "controller/server/run_strategy.h"
#include "core/log/log.h"

namespace hal::controller {

using nlohmann::json;
using Pointer = json::json_pointer;

/** Working copies of one VM/VMI pair during a pass. */
struct InstanceReconciler::InstanceContext {
  std::string ns, name;
  StoreKey vm_key, vmi_key;
  /// Key and version as read (their objects are moved into `vm` and `vmi`).
  std::optional<StoredObject> vm_stored, vmi_stored;
  json vm;   ///< Null when there is no VM.
  json vmi;  ///< Null when there is no VMI (or it was removed this pass).
  bool vm_dirty = false, vmi_dirty = false, vmi_created = false;
  bool vmi_removed = false, vm_removed = false;
  std::vector<StoreWrite> extra;  ///< Events.
  std::optional<std::chrono::milliseconds> requeue;
  bool retry = false;
  int64_t now_ms = 0;

  void event(const StoreKey &key, EventType type, const std::string &reason,
             const std::string &message, const Store &store) {
    extra.push_back(record_event(store, key, type, reason, message));
  }
  void requeue_after(std::chrono::milliseconds delay) {
    if (!requeue || delay < *requeue) requeue = delay;
  }
};

namespace {

bool has_deletion(const json &object) {
  return object.is_object() && object.contains("metadata") &&
         object["metadata"].contains("deletionTimestamp");
}

}  // namespace

WorkResult InstanceReconciler::reconcile(const std::string &ns, const std::string &name) {
  InstanceContext ctx;
  ctx.ns = ns;
  ctx.name = name;
  ctx.vm_key = StoreKey{kVmKind, ns, name};
  ctx.vmi_key = StoreKey{kVmiKind, ns, name};
  ctx.vm_stored = shared_.store.get(ctx.vm_key);
  ctx.vmi_stored = shared_.store.get(ctx.vmi_key);
  ctx.now_ms = unix_ms_now();
  if (ctx.vm_stored) ctx.vm = std::move(ctx.vm_stored->object);
  if (ctx.vmi_stored) ctx.vmi = std::move(ctx.vmi_stored->object);

  // 1. The VMI on its own: deletion, ownership, observed state, scheduling.
  if (!ctx.vmi.is_null()) {
    bool owned = false;
    if (ctx.vmi["metadata"].contains("ownerReferences")) {
      for (const auto &owner : ctx.vmi["metadata"]["ownerReferences"]) {
        if (owner.value("kind", "") == kVmKind) owned = true;
      }
    }
    if (has_deletion(ctx.vmi) || (owned && ctx.vm.is_null())) {
      terminate_vmi(ctx);
    } else {
      std::string phase = str_at(ctx.vmi, Pointer("/status/phase"));
      if (phase.empty() || phase == "Pending") {
        schedule_and_start(ctx);
      } else if (phase == "Scheduled" || phase == "Running") {
        observe_vmi(ctx);
      }
    }
  }

  // 2. The VM's run strategy.
  if (!ctx.vm.is_null()) {
    if (has_deletion(ctx.vm)) {
      if (!ctx.vmi.is_null()) terminate_vmi(ctx);
      if (ctx.vmi.is_null()) ctx.vm_removed = true;
    } else {
      for (int round = 0; round < 4; ++round) {
        const json *vmi = ctx.vmi.is_null() ? nullptr : &ctx.vmi;
        RunDecision decision = decide_run(ctx.vm, vmi, ctx.now_ms);
        if (decision.pop_request) {
          auto &requests = ctx.vm["status"]["stateChangeRequests"];
          requests.erase(requests.begin());
          if (requests.empty()) ctx.vm["status"].erase("stateChangeRequests");
          ctx.vm_dirty = true;
        }
        if (decision.action == RunDecision::Action::kCreate) {
          create_vmi(ctx);
          schedule_and_start(ctx);
          break;
        }
        if (decision.action == RunDecision::Action::kStop) {
          if (decision.failure_restart) {
            auto &failure = ctx.vm["status"]["startFailure"];
            int64_t running_since =
                ctx.vmi.contains("status") && ctx.vmi["status"].contains("hal")
                    ? ctx.vmi["status"]["hal"].value("runningSinceUnixMs", int64_t{0})
                    : 0;
            int count = failure.is_object() ? failure.value("consecutiveFailCount", 0) : 0;
            if (running_since != 0 &&
                ctx.now_ms - running_since >= shared_.options.stable_run.count()) {
              count = 0;
            }
            ++count;
            auto delay = shared_.options.crash_backoff_base;
            for (int i = 1; i < count && delay < shared_.options.crash_backoff_max; ++i) delay *= 2;
            delay = std::min(delay, shared_.options.crash_backoff_max);
            failure = {{"consecutiveFailCount", count},
                       {"lastFailedVMIUID", str_at(ctx.vmi, Pointer("/metadata/uid"))},
                       {"retryAfterUnixMs", ctx.now_ms + delay.count()},
                       {"retryAfterTimestamp", now_rfc3339()}};
            ctx.vm_dirty = true;
            ctx.event(ctx.vm_key, EventType::kWarning, "CrashLoopBackOff",
                      "VMI failed; restarting in " + std::to_string(delay.count()) +
                          " ms (attempt " + std::to_string(count) + ")",
                      shared_.store);
          }
          if (!terminate_vmi(ctx)) break;
          continue;  // VMI gone: the strategy may want a new one at once.
        }
        if (decision.action == RunDecision::Action::kWaitBackoff) {
          int64_t retry_at = ctx.vm["status"]["startFailure"].value("retryAfterUnixMs", int64_t{0});
          ctx.requeue_after(std::chrono::milliseconds(std::max<int64_t>(1, retry_at - ctx.now_ms)));
          break;
        }
        if (!decision.pop_request) break;
      }
      // A VMI that ran long enough clears the crash-loop record.
      if (ctx.vm.contains("status") && ctx.vm["status"].contains("startFailure") &&
          str_at(ctx.vmi, Pointer("/status/phase")) == "Running") {
        int64_t since = ctx.vmi["status"]["hal"].value("runningSinceUnixMs", int64_t{0});
        if (since != 0 && ctx.now_ms - since >= shared_.options.stable_run.count()) {
          ctx.vm["status"].erase("startFailure");
          ctx.vm_dirty = true;
        } else if (since != 0) {
          ctx.requeue_after(std::chrono::milliseconds(shared_.options.stable_run.count() -
                                                      (ctx.now_ms - since) + 1));
        }
      }
      if (!ctx.vm_removed) {
        const json *vmi = ctx.vmi.is_null() ? nullptr : &ctx.vmi;
        if (sync_vm_status(ctx.vm, vmi, ctx.now_ms)) ctx.vm_dirty = true;
        // KubeVirt: a template changed under a running VMI takes effect on the next restart.
        bool restart_required =
            vmi != nullptr && !vmi_final(*vmi) &&
            member_or_empty(member_or_empty(member_or_empty(ctx.vm, "spec"), "template"), "spec") !=
                member_or_empty(*vmi, "spec");
        if (restart_required) {
          ctx.vm_dirty |=
              set_condition(ctx.vm["status"]["conditions"], "RestartRequired", true,
                            "TemplateChanged", "spec.template changed; restart the VM to apply it");
        } else {
          ctx.vm_dirty |= remove_condition(ctx.vm["status"]["conditions"], "RestartRequired");
        }
      }
    }
  }

  // 3. One transaction (the context ends here: its objects move into the writes).
  std::vector<StoreWrite> writes;
  if (ctx.vmi_removed && ctx.vmi_stored) {
    writes.push_back(
        StoreWrite{StoreWrite::Op::kDelete, ctx.vmi_key, json(), ctx.vmi_stored->version, true});
    for (auto &w : delete_events(shared_.store, ctx.vmi_key)) writes.push_back(std::move(w));
  }
  if (ctx.vmi_created) {
    writes.push_back(
        StoreWrite{StoreWrite::Op::kCreate, ctx.vmi_key, std::move(ctx.vmi), 0, false});
  } else if (ctx.vmi_dirty && !ctx.vmi_removed) {
    writes.push_back(StoreWrite{StoreWrite::Op::kUpdate, ctx.vmi_key, std::move(ctx.vmi),
                                ctx.vmi_stored->version, false});
  }
  if (ctx.vm_removed) {
    writes.push_back(
        StoreWrite{StoreWrite::Op::kDelete, ctx.vm_key, json(), ctx.vm_stored->version, true});
    for (auto &w : delete_events(shared_.store, ctx.vm_key)) writes.push_back(std::move(w));
  } else if (ctx.vm_dirty) {
    writes.push_back(StoreWrite{StoreWrite::Op::kUpdate, ctx.vm_key, std::move(ctx.vm),
                                ctx.vm_stored->version, false});
  }
  // Events about deleted objects are not kept.
  for (auto &w : ctx.extra) {
    std::string involved =
        w.object.contains("involvedObject") ? w.object["involvedObject"].value("kind", "") : "";
    if ((ctx.vm_removed && involved == kVmKind) ||
        (ctx.vmi_removed && !ctx.vmi_created && involved == kVmiKind)) {
      continue;
    }
    writes.push_back(std::move(w));
  }
  shared_.store.commit(std::move(writes));

  if (ctx.retry) return WorkResult::retry();
  if (ctx.requeue) return WorkResult::after(*ctx.requeue);
  return WorkResult::done();
}

void InstanceReconciler::create_vmi(InstanceContext &ctx) {
  const json &vm = ctx.vm;
  const json &templ = member_or_empty(member_or_empty(vm, "spec"), "template");
  json metadata{{"name", ctx.name},
                {"namespace", ctx.ns},
                {"uid", new_uid()},
                {"creationTimestamp", now_rfc3339()},
                {"generation", 1},
                {"ownerReferences",
                 {{{"apiVersion", "kubevirt.io/v1"},
                   {"kind", kVmKind},
                   {"name", ctx.name},
                   {"uid", str_at(vm, Pointer("/metadata/uid"))},
                   {"controller", true},
                   {"blockOwnerDeletion", true}}}}};
  if (templ.contains("metadata")) {
    if (templ["metadata"].contains("labels")) metadata["labels"] = templ["metadata"]["labels"];
    if (templ["metadata"].contains("annotations")) {
      metadata["annotations"] = templ["metadata"]["annotations"];
    }
  }
  ctx.vmi =
      json{{"apiVersion", "kubevirt.io/v1"},
           {"kind", kVmiKind},
           {"metadata", std::move(metadata)},
           {"spec", member_or_empty(templ, "spec")},
           {"status", {{"phase", "Pending"}, {"hal", {{"vmId", vm_id_for(ctx.ns, ctx.name)}}}}}};
  ctx.vmi_created = true;  // A VMI removed earlier in this pass is deleted in the same commit.
  ctx.vm["status"]["hal"]["started"] = true;
  ctx.vm_dirty = true;
  shared_.placements.index_vm_id(vm_id_for(ctx.ns, ctx.name), ctx.vmi_key);
  ctx.event(ctx.vm_key, EventType::kNormal, "SuccessfulCreate",
            "Started the virtual machine by creating the new virtual machine instance " + ctx.name,
            shared_.store);
}

bool InstanceReconciler::terminate_vmi(InstanceContext &ctx) {
  json &vmi = ctx.vmi;
  const std::string vm_id = vm_id_of(vmi, ctx.ns, ctx.name);
  const std::string node = str_at(vmi, Pointer("/status/nodeName"));
  std::vector<std::string> nodes;
  if (!node.empty()) nodes.push_back(node);
  if (migration_active(vmi)) {
    std::string target = str_at(vmi, Pointer("/status/migrationState/targetNode"));
    if (!target.empty()) nodes.push_back(target);
  }
  for (const std::string &where : nodes) {
    NodeReadiness readiness = shared_.registry.readiness(where);
    if (readiness == NodeReadiness::kWaiting) {
      ctx.requeue_after(std::chrono::milliseconds(200));  // Wait for it to re-register.
      return false;
    }
    if (readiness != NodeReadiness::kReady) continue;  // Orphan clean-up on its return.
    auto observed = shared_.registry.observed(where, vm_id);
    if (observed && observed->empty()) continue;
    auto claim = shared_.calls.claim(where, instance_queue_key(ctx.vmi_key.ns, ctx.vmi_key.name));
    if (claim.busy) {  // queued again when a call to the node ends
      ctx.requeue_after(kSlotRecheck);
      return false;
    }
    if (!claim.call) continue;
    NodeCall &call = *claim.call;
    int64_t grace_s = vmi["spec"].value("terminationGracePeriodSeconds", int64_t{30});
    grace_s = std::clamp<int64_t>(grace_s, 0, 30);
    if (observed && (state_is(*observed, "Running") || state_is(*observed, "Paused") ||
                     state_is(*observed, "ShuttingDown"))) {
      if (grace_s > 0) {
        // A guest may take its whole grace period: no worker waits for it.
        if (!graceful_stop_over(ctx, call.connection(), vm_id, std::chrono::seconds(grace_s)))
          return false;
      } else {
        v1::StopVmRequest stop;
        stop.set_vm_id(vm_id);
        stop.set_force(true);
        v1::VmStatus status;
        call.invoke(&v1::NodeAgent::Stub::StopVm, stop, &status);  // Delete forces anyway.
      }
    }
    v1::DeleteVmRequest request;
    request.set_vm_id(vm_id);
    v1::DeleteVmResponse response;
    grpc::Status status = call.invoke(&v1::NodeAgent::Stub::DeleteVm, request, &response);
    if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
      ctx.event(ctx.vmi_key, EventType::kWarning, "FailedDelete",
                "Deleting VM " + vm_id + " on node " + where + " failed: " + status.error_message(),
                shared_.store);
      ctx.retry = true;
      return false;
    }
    shared_.registry.set_observed(where, vm_id, "");
  }
  shared_.unplace(ctx.vmi_key);
  shared_.placements.clear_migrating(vm_id);
  shared_.placements.stop_waiting(ctx.vmi_key);
  {
    std::lock_guard lock(stops_mutex_);
    graceful_stops_.erase(vm_id);
  }
  if (!ctx.vm.is_null()) {
    ctx.event(ctx.vm_key, EventType::kNormal, "SuccessfulDelete",
              "Stopped the virtual machine by deleting the virtual machine instance " +
                  str_at(vmi, Pointer("/metadata/uid")),
              shared_.store);
  }
  if (ctx.vmi_created) {
    ctx.vmi_created = false;  // Never stored: nothing to delete.
  } else {
    ctx.vmi_removed = true;
  }
  ctx.vmi = json();
  return true;
}

bool InstanceReconciler::graceful_stop_over(InstanceContext &ctx, NodeConnection &connection,
                                            const std::string &vm_id,
                                            std::chrono::milliseconds grace) {
  const auto now = std::chrono::steady_clock::now();
  const std::string uid = str_at(ctx.vmi, Pointer("/metadata/uid"));
  std::chrono::steady_clock::time_point give_up_at;
  bool send = false;
  {
    std::lock_guard lock(stops_mutex_);
    auto [stop, added] = graceful_stops_.try_emplace(vm_id);
    if (added || stop->second.vmi_uid != uid) {  // Not sent yet for this VMI.
      stop->second = GracefulStop{uid, now + grace + shared_.options.rpc_timeout, false};
      send = true;
    }
    if (stop->second.answered || now >= stop->second.give_up_at) return true;
    give_up_at = stop->second.give_up_at;
  }
  if (send) {
    ctx.event(ctx.vmi_key, EventType::kNormal, "ShuttingDown",
              "Signaled graceful shutdown of VM " + vm_id + " (grace period " +
                  std::to_string(grace.count() / 1000) + " s)",
              shared_.store);
    connection.stop_vm_async(
        vm_id, grace, shared_.options.rpc_timeout,
        [this, vm_id, uid, key = instance_queue_key(ctx.ns, ctx.name)](const grpc::Status &status) {
          {
            std::lock_guard lock(stops_mutex_);
            auto stop = graceful_stops_.find(vm_id);
            if (stop != graceful_stops_.end() && stop->second.vmi_uid == uid) {
              if (status.error_code() == grpc::StatusCode::CANCELLED) {
                graceful_stops_.erase(stop);  // Connection replaced or closing: send it again.
              } else {
                stop->second.answered = true;  // Stopped, or failed: the delete forces it.
              }
            }
          }
          if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED)
            hal::log("controller")
                ->warn("graceful stop of VM {} failed ({}); deleting it by force", vm_id,
                       status.error_message());
          shared_.queue.add(key);
        });
  }
  ctx.requeue_after(std::chrono::ceil<std::chrono::milliseconds>(give_up_at - now));
  return false;
}

void InstanceReconciler::schedule_and_start(InstanceContext &ctx) {
  json &vmi = ctx.vmi;
  json &status = vmi["status"];
  const std::string vm_id = vm_id_of(vmi, ctx.ns, ctx.name);
  status["hal"]["vmId"] = vm_id;
  auto mark = [&] {
    if (!ctx.vmi_created) ctx.vmi_dirty = true;
  };
  const json &spec = member_or_empty(vmi, "spec");  // Stays valid: only status changes below.

  // A node may already run it (controller restarted between CreateVm and its write): adopt.
  for (const auto &[node, state] : shared_.registry.find_vm(vm_id)) {
    if (!(state_is(state, "Running") || state_is(state, "Paused") || state_is(state, "Starting"))) {
      continue;
    }
    ResourceRequest request = resource_request(spec);
    shared_.placements.place(ctx.vmi_key, Placement{node, request.vcpus, request.memory_bytes, {}});
    status["nodeName"] = node;
    auto snapshot = shared_.registry.node(node);
    if (snapshot && !snapshot->backends.empty())
      status["hal"]["backend"] = snapshot->backends.front();
    status["hal"]["state"] = state;
    status["phase"] = state_is(state, "Starting") ? "Scheduled" : "Running";
    if (!state_is(state, "Starting")) status["hal"]["runningSinceUnixMs"] = ctx.now_ms;
    set_condition(status["conditions"], "PodScheduled", true, "", "");
    set_condition(status["conditions"], "Ready", status["phase"] == "Running", "", "");
    shared_.placements.index_vm_id(vm_id, ctx.vmi_key);
    mark();
    hal::log("controller")
        ->info("{}: adopted VM {} running on node {}", ctx.vmi_key.str(), vm_id, node);
    return;
  }

  ResourceRequest request = resource_request(spec);
  json hal_spec;
  try {
    if (request.dedicated_cpus) {
      // Validates everything but the pinning, which depends on the node picked below.
      CpuPlacement trial;
      for (uint32_t i = 0; i < request.vcpus; ++i) {
        trial.host_cpus.push_back(i);
        trial.host_numa_nodes.push_back(0);
      }
      to_hal_spec(spec, shared_.translation(vm_id), trial);
    } else {
      hal_spec = to_hal_spec(spec, shared_.translation(vm_id));
    }
  } catch (const std::exception &e) {
    status["phase"] = "Failed";
    set_condition(status["conditions"], "Failure", true, "InvalidSpec", e.what());
    set_condition(status["conditions"], "Ready", false, "InvalidSpec", e.what());
    ctx.event(ctx.vmi_key, EventType::kWarning, "FailedCreate", e.what(), shared_.store);
    mark();
    return;
  }
  SchedulingRequest scheduling;
  scheduling.resources = request;
  scheduling.node_selector = spec.value("nodeSelector", json());
  scheduling.guest_numa = guest_numa_nodes(hal_spec);

  std::string node;
  std::string backend;
  {
    auto placing = shared_.scheduling_lock();
    const std::vector<SchedulerNode> &nodes = shared_.scheduler_nodes();
    SchedulingDecision decision = schedule(scheduling, nodes);
    if (!decision.node) {
      std::string message = decision.message(nodes.size());
      status["phase"] = "Pending";
      const json *before = find_condition(conditions_of(vmi), "PodScheduled");
      bool repeated = before != nullptr && before->value("message", "") == message;
      if (set_condition(status["conditions"], "PodScheduled", false, "Unschedulable", message))
        mark();
      if (!repeated) {
        ctx.event(ctx.vmi_key, EventType::kWarning, "FailedScheduling", message, shared_.store);
        if (!ctx.vm.is_null()) {
          ctx.event(ctx.vm_key, EventType::kWarning, "FailedScheduling", message, shared_.store);
        }
      }
      shared_.placements.wait_for_room(ctx.vmi_key);
      ctx.retry = true;  // Back-off; node registration and freed room re-queue it too.
      return;
    }
    node = *decision.node;
    for (const auto &view : nodes) {
      if (view.name == node) backend = view.backend;
    }
    std::vector<uint32_t> host_cpus;
    if (request.dedicated_cpus) {
      try {
        hal_spec = shared_.hal_spec_for(spec, vm_id, node, request, &host_cpus);
      } catch (const std::exception &e) {
        if (set_condition(status["conditions"], "PodScheduled", false, "Unschedulable", e.what()))
          mark();
        ctx.event(ctx.vmi_key, EventType::kWarning, "FailedScheduling", e.what(), shared_.store);
        ctx.retry = true;
        return;
      }
      status["hal"]["hostCpus"] = host_cpus;
    }
    shared_.placements.place(ctx.vmi_key,
                             Placement{node, request.vcpus, request.memory_bytes, host_cpus});
  }
  // A node whose calls hang holds a few workers at most: without a slot, this VMI waits for one
  // (queued again when a call to the node ends) and is scheduled afresh then.
  auto claim = shared_.calls.claim(node, instance_queue_key(ctx.vmi_key.ns, ctx.vmi_key.name));
  if (!claim.call) {
    shared_.unplace(ctx.vmi_key);
    if (claim.busy) {
      ctx.requeue_after(kSlotRecheck);
    } else {
      ctx.retry = true;
    }
    return;
  }
  NodeCall &call = *claim.call;
  v1::CreateVmRequest create;
  create.set_backend(backend);
  create.set_spec_json(hal_spec.dump());
  create.set_start(true);
  v1::VmStatus answer;
  // The VM's events during the calls only echo what the answer tells.
  NodeRegistry::Action action(shared_.registry, node, vm_id);
  grpc::Status rpc = call.invoke(&v1::NodeAgent::Stub::CreateVm, create, &answer);
  if (rpc.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    v1::VmRef ref;
    ref.set_vm_id(vm_id);
    rpc = call.invoke(&v1::NodeAgent::Stub::GetVm, ref, &answer);
    if (rpc.ok() && !(state_is(answer.state(), "Running") || state_is(answer.state(), "Paused") ||
                      state_is(answer.state(), "Starting"))) {
      rpc = call.invoke(&v1::NodeAgent::Stub::StartVm, ref, &answer);
    }
  }
  if (!rpc.ok()) {
    shared_.unplace(ctx.vmi_key);
    std::string message =
        "Creating VM " + vm_id + " on node " + node + " failed: " + rpc.error_message();
    hal::log("controller")->warn("{}: {}", ctx.vmi_key.str(), message);
    ctx.event(ctx.vmi_key, EventType::kWarning, "FailedCreate", message, shared_.store);
    if (rpc.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      status["phase"] = "Failed";
      set_condition(status["conditions"], "Failure", true, "FailedCreate", message);
      mark();
      return;
    }
    ctx.retry = true;
    return;
  }
  shared_.registry.set_observed(node, vm_id, answer.state(), answer.event_sequence());
  if (action.end(answer.event_sequence()))  // the VM changed again after the answer
    shared_.queue.add(instance_queue_key(ctx.vmi_key.ns, ctx.vmi_key.name));
  shared_.placements.index_vm_id(vm_id, ctx.vmi_key);
  status["nodeName"] = node;
  status["hal"]["backend"] = backend;
  status["hal"]["state"] = answer.state();
  remove_condition(status["conditions"], "Failure");
  set_condition(status["conditions"], "PodScheduled", true, "", "");
  set_condition(status["conditions"], "LiveMigratable", request.live_migratable,
                request.live_migratable ? "" : "NotMigratable",
                request.live_migratable ? ""
                : request.needs_tdx
                    ? "TDX (launchSecurity.tdx) guests cannot be live-migrated"
                    : "VMI is not live-migratable (host devices or evictionStrategy)");
  const bool running = state_is(answer.state(), "Running") || state_is(answer.state(), "Paused");
  status["phase"] = running ? "Running" : "Scheduled";
  set_condition(status["conditions"], "Ready", running && !state_is(answer.state(), "Paused"),
                running ? "" : "Starting", "");
  if (running) {
    status["hal"]["runningSinceUnixMs"] = ctx.now_ms;
    ctx.event(ctx.vmi_key, EventType::kNormal, "Started",
              "VirtualMachineInstance started on node " + node, shared_.store);
  }
  mark();
  shared_.schedule_node_flush(node);
}

void InstanceReconciler::observe_vmi(InstanceContext &ctx) {
  json &vmi = ctx.vmi;
  json &status = vmi["status"];
  const std::string vm_id = vm_id_of(vmi, ctx.ns, ctx.name);
  const std::string node = str_at(vmi, Pointer("/status/nodeName"));
  const std::string phase = str_at(vmi, Pointer("/status/phase"));
  bool changed = false;
  auto fail = [&](const std::string &reason, const std::string &message) {
    status["phase"] = "Failed";
    set_condition(status["conditions"], "Ready", false, reason, message);
    set_condition(status["conditions"], "Failure", true, reason, message);
    ctx.event(ctx.vmi_key, EventType::kWarning, reason, message, shared_.store);
    shared_.unplace(ctx.vmi_key);
    changed = true;
  };
  NodeReadiness readiness = shared_.registry.readiness(node);
  if (readiness == NodeReadiness::kNotReady) {
    fail("NodeNotReady", "node " + node + " is not ready (missed heartbeats)");
  } else if (readiness == NodeReadiness::kWaiting) {
    ctx.requeue_after(std::chrono::milliseconds(200));
  } else if (migration_active(vmi)) {
    // The migration controller owns the VMI while it moves.
  } else if (auto observed = shared_.registry.observed(node, vm_id)) {
    const std::string &state = *observed;
    if (state.empty()) {
      fail("VMDisappeared", "VM " + vm_id + " is no longer on node " + node);
    } else if (state_is(state, "Running") || state_is(state, "Paused")) {
      const bool paused = state_is(state, "Paused");
      if (phase != "Running") {
        status["phase"] = "Running";
        status["hal"]["runningSinceUnixMs"] = ctx.now_ms;
        ctx.event(ctx.vmi_key, EventType::kNormal, "Started",
                  "VirtualMachineInstance started on node " + node, shared_.store);
        changed = true;
      }
      changed |= set_condition(status["conditions"], "Ready", !paused, paused ? "Paused" : "", "");
      if (paused) {
        changed |= set_condition(status["conditions"], "Paused", true, "PausedByUser",
                                 "VMI was paused by user");
      } else {
        changed |= remove_condition(status["conditions"], "Paused");
      }
    } else if (state_is(state, "Crashed")) {
      fail("GuestCrashed", "the guest of VM " + vm_id + " crashed on node " + node);
    } else if (state_is(state, "Stopped") && phase == "Running") {
      status["phase"] = "Succeeded";
      set_condition(status["conditions"], "Ready", false, "Stopped", "the guest shut down");
      remove_condition(status["conditions"], "Paused");
      ctx.event(ctx.vmi_key, EventType::kNormal, "Stopped",
                "the guest of VM " + vm_id + " shut down", shared_.store);
      shared_.unplace(ctx.vmi_key);
      changed = true;
    } else if (state_is(state, "Stopped") && phase == "Scheduled") {
      fail("FailedStart", "VM " + vm_id + " stopped before it ran on node " + node);
    }
    changed |= update_guest_silence(ctx, node, vm_id,
                                    state_is(state, "Running") || state_is(state, "Paused"));
    if (str_at(vmi, Pointer("/status/hal/state")) != state && !state.empty()) {
      status["hal"]["state"] = state;
      changed = true;
    }
  } else {
    ctx.requeue_after(std::chrono::milliseconds(200));
  }
  if (changed) ctx.vmi_dirty = true;
}

bool InstanceReconciler::update_guest_silence(InstanceContext &ctx, const std::string &node,
                                              const std::string &vm_id, bool running) {
  json &conditions = ctx.vmi["status"]["conditions"];
  const std::string silence = running ? shared_.registry.guest_silence(node, vm_id) : std::string();
  if (silence.empty()) return remove_condition(conditions, "GuestConsoleSilent");
  if (!set_condition(conditions, "GuestConsoleSilent", true, "NoConsoleOutput", silence))
    return false;
  ctx.event(ctx.vmi_key, EventType::kWarning, "GuestConsoleSilent", silence, shared_.store);
  return true;
}

}  // namespace hal::controller
