// node_reconciler.cc - Node status flushes and the periodic VM list resync.
#include "controller/server/node_reconciler.h"

#include <map>
#include <set>

#include "controller/server/object_util.h"
#include "controller/server/orphan_vms.h"

namespace hal::controller {

WorkResult NodeReconciler::flush_status(const std::string &node) {
  shared_.flush_started(node);
  StoreKey key{kNodeKind, "", node};
  auto stored = shared_.store.get(key);
  if (!stored) return WorkResult::done();
  SchedulerNode view;
  view.name = node;
  shared_.placements.fill_allocation(view);
  nlohmann::json allocated{{"cpu", std::to_string(view.allocated_cpu_millis) + "m"},
                           {"memory", view.allocated_memory},
                           {"vms", view.vm_count}};
  if (stored->object.contains("status") &&
      stored->object["status"].value("allocated", nlohmann::json()) == allocated) {
    return WorkResult::done();
  }
  nlohmann::json object = stored->object;
  object["status"]["allocated"] = allocated;
  shared_.store.update(key, object, stored->version);
  return WorkResult::done();
}

WorkResult NodeReconciler::resync(const std::string &node) {
  NodeRegistry &registry = shared_.registry;
  if (registry.readiness(node) != NodeReadiness::kReady) return WorkResult::done();
  NodeCallClaim claim = shared_.calls.claim(node, "resync/" + node);
  if (!claim.call) {
    return claim.busy ? WorkResult::after(shared_.options.resync_interval) : WorkResult::done();
  }
  // What we believed before the call; only entries nothing changed meanwhile are corrected
  // (an event or RPC answer during the call is newer than the list).
  const std::map<std::string, std::string> before = registry.observed_vms(node);
  v1::ListVmsRequest request;
  v1::ListVmsResponse response;
  if (!claim.call->invoke(&v1::NodeAgent::Stub::ListVms, request, &response).ok())
    return WorkResult::after(shared_.options.resync_interval);
  auto unchanged = [&](const std::string &vm_id) {
    auto it = before.find(vm_id);
    return registry.observed(node, vm_id).value_or("") == (it == before.end() ? "" : it->second);
  };
  auto touch = [&](const std::string &vm_id) {
    if (auto key = shared_.placements.vmi_for_vm_id(vm_id)) shared_.queue_instance(*key);
  };
  std::set<std::string> listed;
  bool unplaced = false;
  for (const auto &vm : response.vms()) {
    listed.insert(vm.vm_id());
    unplaced = unplaced || !placed_vm(shared_.placements, vm.vm_id());
    auto it = before.find(vm.vm_id());
    if ((it == before.end() || it->second != vm.state()) && unchanged(vm.vm_id())) {
      registry.set_observed(node, vm.vm_id(), vm.state());
      touch(vm.vm_id());
    }
  }
  for (const auto &[vm_id, state] : before) {
    if (listed.count(vm_id) == 0 && unchanged(vm_id)) {
      registry.set_observed(node, vm_id, "");
      touch(vm_id);
    }
  }
  if (unplaced) shared_.queue.add("orphans/" + node);  // orphans, or stale copies
  return WorkResult::after(shared_.options.resync_interval);
}

}  // namespace hal::controller
