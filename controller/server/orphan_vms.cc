// orphan_vms.cc - stale copies deleted on registration, orphans reported and, when configured,
// deleted after their grace period (see orphan_vms.h).
#include "controller/server/orphan_vms.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "core/log/log.h"

namespace hal::controller {

using nlohmann::json;
using Pointer = json::json_pointer;

namespace {

constexpr const char *kCondition = "OrphanVMs";
constexpr size_t kNamesShown = 20;  // VM ids a condition or event names at most

// The (namespace, name) pairs a HAL vm id may stand for: hal_vm_id's encoding ('-' doubled in the
// namespace, then '-', then the name) and, for ids made before it, every split at a '-'.
std::vector<std::pair<std::string, std::string>> owners_of(const std::string &vm_id) {
  std::vector<std::pair<std::string, std::string>> owners;
  std::string ns;
  for (size_t i = 0; i < vm_id.size(); ++i) {
    if (vm_id[i] != '-') {
      ns += vm_id[i];
    } else if (i + 1 < vm_id.size() && vm_id[i + 1] == '-') {
      ns += '-';
      ++i;
    } else {
      owners.emplace_back(ns, vm_id.substr(i + 1));
      break;
    }
  }
  for (size_t dash = vm_id.find('-'); dash != std::string::npos; dash = vm_id.find('-', dash + 1))
    owners.emplace_back(vm_id.substr(0, dash), vm_id.substr(dash + 1));
  std::erase_if(owners,
                [](const auto &owner) { return owner.first.empty() || owner.second.empty(); });
  return owners;
}

// "a, b, c" (and "and N more" past kNamesShown).
std::string names(const std::set<std::string> &ids) {
  std::string out;
  size_t shown = 0;
  for (const std::string &id : ids) {
    if (shown == kNamesShown) {
      out += " and " + std::to_string(ids.size() - shown) + " more";
      break;
    }
    out += (shown++ == 0 ? "" : ", ") + id;
  }
  return out;
}

}  // namespace

bool placed_vm(const PlacementModel &placements, const std::string &vm_id) {
  return placements.vmi_for_vm_id(vm_id) || placements.migration_of(vm_id);
}

void OrphanVmReconciler::node_registered(const std::string &node) {
  std::lock_guard lock(mutex_);
  registered_.insert(node);
}

OrphanVmReconciler::Kind OrphanVmReconciler::classify(const std::string &node,
                                                      const std::string &vm_id) {
  if (shared_.placements.migration_of(vm_id)) return Kind::kWanted;  // a migration moves it
  std::optional<StoredObject> vmi;
  if (auto key = shared_.placements.vmi_for_vm_id(vm_id)) {
    vmi = shared_.store.get(*key);
    if (!vmi) return Kind::kStale;  // its VMI is gone
  } else {
    // Not placed (yet): a VMI being created, or a VM object whose VMI is not stored yet (the
    // controller stopped in between), which its reconcile adopts.
    for (const auto &[ns, name] : owners_of(vm_id)) {
      auto found = shared_.store.get(StoreKey{kVmiKind, ns, name});
      if (found && vm_id_of(found->object, ns, name) == vm_id) {
        vmi = std::move(found);
        break;
      }
      if (!found && shared_.store.get(StoreKey{kVmKind, ns, name})) {
        shared_.queue.add(instance_queue_key(ns, name));
        return Kind::kWanted;
      }
    }
    if (!vmi) return Kind::kOrphan;
  }
  const json &object = vmi->object;
  const std::string placed = str_at(object, Pointer("/status/nodeName"));
  const std::string target = str_at(object, Pointer("/status/migrationState/targetNode"));
  const std::string phase = str_at(object, Pointer("/status/phase"));
  if (placed == node || placed.empty() || (target == node && migration_active(object)) ||
      phase == "Pending")
    return Kind::kWanted;
  return Kind::kStale;
}

bool OrphanVmReconciler::delete_vm(NodeCall &call, const std::string &node,
                                   const std::string &vm_id) {
  v1::DeleteVmRequest request;
  request.set_vm_id(vm_id);
  v1::DeleteVmResponse response;
  grpc::Status status = call.invoke(&v1::NodeAgent::Stub::DeleteVm, request, &response);
  if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
    hal::log("controller")
        ->warn("node {}: deleting VM {} failed: {}", node, vm_id, status.error_message());
    return false;
  }
  shared_.registry.set_observed(node, vm_id, "");
  return true;
}

void OrphanVmReconciler::record(const std::string &node, const std::set<std::string> &orphans,
                                const std::set<std::string> &found,
                                const std::set<std::string> &deleted) {
  const StoreKey key{kNodeKind, "", node};
  const auto &grace = shared_.options.orphan_vm_grace;
  const std::string fate = grace ? "deleted " + std::to_string(grace->count()) +
                                       " ms after they were found unless an object claims them"
                                 : "left running: hal-controller --orphan-vm-grace-ms is not set";
  for (int attempt = 0;; ++attempt) {
    auto stored = shared_.store.get(key);
    if (!stored) return;
    json object = stored->object;
    bool changed = false;
    if (orphans.empty()) {
      if (object.contains("status") && object["status"].contains("conditions"))
        changed = remove_condition(object["status"]["conditions"], kCondition);
    } else {
      changed = set_condition(object["status"]["conditions"], kCondition, true, "VMsWithoutObject",
                              "VMs that no VirtualMachineInstance owns run on this node: " +
                                  names(orphans) + " (" + fate + ")");
    }
    std::vector<StoreWrite> writes;
    if (changed)
      writes.push_back(StoreWrite{StoreWrite::Op::kUpdate, key, object, stored->version, false});
    if (!found.empty()) {
      writes.push_back(record_event(
          shared_.store, key, EventType::kWarning, "OrphanVMs",
          "Node " + node + " runs VMs that no VirtualMachineInstance owns (not created by HAL): " +
              names(found) + "; " + fate));
    }
    if (!deleted.empty()) {
      writes.push_back(record_event(shared_.store, key, EventType::kWarning, "OrphanVMsDeleted",
                                    "Deleted VMs that no VirtualMachineInstance owned, " +
                                        std::to_string(grace ? grace->count() : 0) +
                                        " ms after they were found: " + names(deleted)));
    }
    if (writes.empty()) return;
    try {
      shared_.store.commit(writes);
      return;
    } catch (const StoreError &e) {
      // The registry wrote the Node meanwhile (a heartbeat flush): read it again.
      if (e.code() != StoreErrorCode::kConflict || attempt >= 4) throw;
    }
  }
}

WorkResult OrphanVmReconciler::reconcile(const std::string &node) {
  bool registration = false;
  {
    std::lock_guard lock(mutex_);
    registration = registered_.erase(node) > 0;
  }
  if (shared_.registry.readiness(node) != NodeReadiness::kReady) return WorkResult::done();
  std::set<std::string> stale, orphans;
  for (const auto &[vm_id, state] : shared_.registry.observed_vms(node)) {
    switch (classify(node, vm_id)) {
      case Kind::kStale:
        stale.insert(vm_id);
        break;
      case Kind::kOrphan:
        orphans.insert(vm_id);
        break;
      case Kind::kWanted:
        break;
    }
  }
  const auto now = std::chrono::steady_clock::now();
  const auto &grace = shared_.options.orphan_vm_grace;
  std::set<std::string> found, due, deleted;
  {
    std::lock_guard lock(mutex_);
    auto &seen = orphans_[node];
    std::erase_if(seen, [&](const auto &entry) { return orphans.count(entry.first) == 0; });
    for (const std::string &vm_id : orphans) {
      auto it = seen.find(vm_id);
      if (it == seen.end()) {
        found.insert(vm_id);
      } else if (grace && now - it->second >= *grace) {
        due.insert(vm_id);
      }
    }
  }
  if ((registration && !stale.empty()) || !due.empty()) {
    auto claim = shared_.calls.claim(node, "orphans/" + node);
    if (claim.busy) {  // queued again when a call to the node ends
      if (registration) node_registered(node);
      return WorkResult::after(kSlotRecheck);
    }
    if (claim.call) {
      if (registration) {
        for (const std::string &vm_id : stale) {
          hal::log("controller")->warn("node {}: deleting VM {}, a stale copy", node, vm_id);
          delete_vm(*claim.call, node, vm_id);
        }
      }
      for (const std::string &vm_id : due) {
        hal::log("controller")->warn("node {}: deleting orphaned VM {}", node, vm_id);
        if (delete_vm(*claim.call, node, vm_id)) {
          deleted.insert(vm_id);
          orphans.erase(vm_id);
        }
      }
    }
  }
  for (const std::string &vm_id : found)
    hal::log("controller")
        ->warn("node {}: VM {} belongs to no VirtualMachineInstance", node, vm_id);
  record(node, orphans, found, deleted);
  std::optional<std::chrono::steady_clock::duration> next;
  {
    std::lock_guard lock(mutex_);
    auto &seen = orphans_[node];
    for (const std::string &vm_id : found) seen.emplace(vm_id, now);
    for (const std::string &vm_id : deleted) seen.erase(vm_id);
    if (grace) {
      for (const auto &[vm_id, since] : seen) {
        const auto left = std::max<std::chrono::steady_clock::duration>(
            since + *grace - now, std::chrono::milliseconds(10));
        next = next ? std::min(*next, left) : left;
      }
    }
  }
  if (!next) return WorkResult::done();
  return WorkResult::after(std::chrono::ceil<std::chrono::milliseconds>(*next));
}

}  // namespace hal::controller
