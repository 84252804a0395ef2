// placement_model.cc - the placement model: loading from the store, placements, migration
// targets, the vm id and migration indexes and per-node totals.
#include "controller/server/placement_model.h"

#include <algorithm>

#include "controller/api/kubevirt_api.h"
#include "controller/server/object_util.h"

namespace hal::controller {

using nlohmann::json;
using Pointer = json::json_pointer;

void PlacementModel::load(const Store &store) {
  std::lock_guard lock(mutex_);
  placements_.clear();
  target_placements_.clear();
  migration_sources_.clear();
  vm_ids_.clear();
  migrating_.clear();
  waiting_for_room_.clear();
  std::map<StoreKey, std::string> vm_id_of_vmi;
  for (const auto &stored : store.list(kVmiKind, "")) {
    const auto &vmi = stored.object;
    const std::string vm_id = vm_id_of(vmi, stored.key.ns, stored.key.name);
    vm_ids_[vm_id] = stored.key;
    vm_id_of_vmi[stored.key] = vm_id;
    std::string node = str_at(vmi, Pointer("/status/nodeName"));
    std::string phase = str_at(vmi, Pointer("/status/phase"));
    if (node.empty() || phase == "Succeeded" || phase == "Failed") continue;
    ResourceRequest request;
    try {
      request = resource_request(vmi.value("spec", json::object()));
    } catch (const std::exception &) {
      // A spec the API no longer accepts still holds its node: counted as empty.
    }
    std::vector<uint32_t> host_cpus;
    const json &hal = member_or_empty(member_or_empty(vmi, "status"), "hal");
    if (hal.contains("hostCpus")) host_cpus = hal["hostCpus"].get<std::vector<uint32_t>>();
    placements_[stored.key] = Placement{node, request.vcpus, request.memory_bytes, host_cpus};
  }
  for (const auto &stored : store.list(kVmimKind, "")) {
    const auto &vmim = stored.object;
    if (str_at(vmim, Pointer("/status/phase")) != "Running") continue;
    const std::string vmi_name = str_at(vmim, Pointer("/spec/vmiName"));
    auto vm_id = vm_id_of_vmi.find(StoreKey{kVmiKind, stored.key.ns, vmi_name});
    migrating_[vm_id != vm_id_of_vmi.end() ? vm_id->second : vm_id_for(stored.key.ns, vmi_name)] =
        stored.key;
    std::string target = str_at(vmim, Pointer("/status/migrationState/targetNode"));
    auto vmi = placements_.find(StoreKey{kVmiKind, stored.key.ns, vmi_name});
    if (vmi != placements_.end() && !target.empty()) {
      target_placements_[stored.key] =
          Placement{target, vmi->second.vcpus, vmi->second.memory, vmi->second.host_cpus};
      migration_sources_[stored.key] = str_at(vmim, Pointer("/status/migrationState/sourceNode"));
    }
  }
  allocations_.clear();
  for (const auto &[key, placement] : placements_) account(placement, +1);
  for (const auto &[key, placement] : target_placements_) account(placement, +1);
}

void PlacementModel::place(const StoreKey &vmi_key, const Placement &placement) {
  std::lock_guard lock(mutex_);
  if (auto it = placements_.find(vmi_key); it != placements_.end()) account(it->second, -1);
  placements_[vmi_key] = placement;
  account(placement, +1);
  waiting_for_room_.erase(vmi_key);
}

std::optional<FreedPlacement> PlacementModel::unplace(const StoreKey &vmi_key) {
  std::lock_guard lock(mutex_);
  auto it = placements_.find(vmi_key);
  if (it == placements_.end()) return std::nullopt;
  FreedPlacement freed{it->second.node, waiting_for_room_};
  account(it->second, -1);
  placements_.erase(it);
  return freed;
}

void PlacementModel::place_target(const StoreKey &vmim_key, const Placement &placement,
                                  const std::string &source) {
  std::lock_guard lock(mutex_);
  if (auto it = target_placements_.find(vmim_key); it != target_placements_.end())
    account(it->second, -1);
  target_placements_[vmim_key] = placement;
  account(placement, +1);
  migration_sources_[vmim_key] = source;
}

void PlacementModel::unplace_target(const StoreKey &vmim_key) {
  std::lock_guard lock(mutex_);
  if (auto it = target_placements_.find(vmim_key); it != target_placements_.end()) {
    account(it->second, -1);
    target_placements_.erase(it);
  }
  migration_sources_.erase(vmim_key);
}

std::vector<uint32_t> PlacementModel::target_host_cpus(const StoreKey &vmim_key) const {
  std::lock_guard lock(mutex_);
  auto it = target_placements_.find(vmim_key);
  return it == target_placements_.end() ? std::vector<uint32_t>{} : it->second.host_cpus;
}

std::size_t PlacementModel::active_migrations(const std::string &source_node) const {
  std::lock_guard lock(mutex_);
  if (source_node.empty()) return migration_sources_.size();
  return static_cast<std::size_t>(
      std::count_if(migration_sources_.begin(), migration_sources_.end(),
                    [&](const auto &entry) { return entry.second == source_node; }));
}

std::optional<StoreKey> PlacementModel::vmi_for_vm_id(const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = vm_ids_.find(vm_id);
  if (it == vm_ids_.end()) return std::nullopt;
  return it->second;
}

void PlacementModel::index_vm_id(const std::string &vm_id, const StoreKey &vmi_key) {
  std::lock_guard lock(mutex_);
  vm_ids_[vm_id] = vmi_key;
}

std::string PlacementModel::assigned_elsewhere(const std::string &vm_id,
                                               const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto vmi = vm_ids_.find(vm_id);
  if (vmi == vm_ids_.end()) return "";
  auto placed = placements_.find(vmi->second);
  if (placed == placements_.end() || placed->second.node.empty() || placed->second.node == node)
    return "";
  if (auto migration = migrating_.find(vm_id); migration != migrating_.end()) {
    auto target = target_placements_.find(migration->second);
    if (target != target_placements_.end() && target->second.node == node) return "";
    auto source = migration_sources_.find(migration->second);
    if (source != migration_sources_.end() && source->second == node) return "";
  }
  return placed->second.node;
}

void PlacementModel::set_migrating(const std::string &vm_id, const StoreKey &vmim_key) {
  std::lock_guard lock(mutex_);
  migrating_[vm_id] = vmim_key;
}

void PlacementModel::clear_migrating(const std::string &vm_id) {
  std::lock_guard lock(mutex_);
  migrating_.erase(vm_id);
}

std::optional<StoreKey> PlacementModel::migration_of(const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = migrating_.find(vm_id);
  if (it == migrating_.end()) return std::nullopt;
  return it->second;
}

void PlacementModel::wait_for_room(const StoreKey &vmi_key) {
  std::lock_guard lock(mutex_);
  waiting_for_room_.insert(vmi_key);
}

void PlacementModel::stop_waiting(const StoreKey &vmi_key) {
  std::lock_guard lock(mutex_);
  waiting_for_room_.erase(vmi_key);
}

void PlacementModel::fill_allocation(SchedulerNode &view) const {
  std::lock_guard lock(mutex_);
  fill_locked(view);
}

void PlacementModel::fill_allocations(std::vector<SchedulerNode> &views) const {
  std::lock_guard lock(mutex_);
  for (SchedulerNode &view : views) fill_locked(view);
}

void PlacementModel::fill_locked(SchedulerNode &view) const {
  auto it = allocations_.find(view.name);
  view.allocated_cpu_millis = it == allocations_.end() ? 0 : it->second.cpu_millis;
  view.allocated_memory = it == allocations_.end() ? 0 : it->second.memory;
  view.vm_count = it == allocations_.end() ? 0 : it->second.count;
}

std::set<uint32_t> PlacementModel::host_cpus_in_use(const std::string &node) const {
  std::lock_guard lock(mutex_);
  std::set<uint32_t> used;
  for (const auto *map : {&placements_, &target_placements_}) {
    for (const auto &[key, placement] : *map) {
      if (placement.node == node)
        used.insert(placement.host_cpus.begin(), placement.host_cpus.end());
    }
  }
  return used;
}

std::vector<StoreKey> PlacementModel::vmis_on(const std::string &node) const {
  std::lock_guard lock(mutex_);
  std::vector<StoreKey> keys;
  for (const auto &[key, placement] : placements_) {
    if (placement.node == node) keys.push_back(key);
  }
  return keys;
}

std::vector<StoreKey> PlacementModel::migrations_with_target(const std::string &node) const {
  std::lock_guard lock(mutex_);
  std::vector<StoreKey> keys;
  for (const auto &[key, placement] : target_placements_) {
    if (node.empty() || placement.node == node) keys.push_back(key);
  }
  return keys;
}

void PlacementModel::account(const Placement &placement, int sign) {
  Allocation &total = allocations_[placement.node];
  const uint64_t cpu = cpu_request_millis(placement.vcpus, !placement.host_cpus.empty());
  if (sign > 0) {
    total.cpu_millis += cpu;
    total.memory += placement.memory;
    ++total.count;
  } else {
    total.cpu_millis -= std::min(total.cpu_millis, cpu);
    total.memory -= std::min(total.memory, placement.memory);
    total.count -= std::min<std::size_t>(total.count, 1);
  }
}

}  // namespace hal::controller
