// controller.cc - Controller construction, start-up from the store, queue dispatch, node
// listener callbacks and placement bookkeeping.
#include "controller/server/controller.h"

#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "core/log/log.h"

namespace hal::controller {

std::string instance_queue_key(const std::string &ns, const std::string &name) {
  return "inst/" + ns + "/" + name;
}

Controller::Controller(Store &store, const ImageCatalog &images, ControllerOptions options)
    : store_(store),
      images_(images),
      options_(options),
      registry_(store, options.nodes, this),
      queue_(WorkQueueOptions{options.workers, options.retry_base, options.retry_max},
             [this](const std::string &key) { return handle(key); }),
      call_slots_(std::min<std::size_t>(options.calls_per_node,
                                        options.workers > 1 ? options.workers - 1 : 1),
                  [this](const std::string &key) { queue_.add(key); }) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  started_at_ = std::chrono::steady_clock::now();
  registry_.load_from_store();
  load_placements();
  registry_.start();
  queue_.start();
  for (const auto &vm : store_.list(kVmKind, "")) enqueue(vm.key);
  for (const auto &vmi : store_.list(kVmiKind, "")) enqueue(vmi.key);
  for (const auto &vmim : store_.list(kVmimKind, "")) enqueue(vmim.key);
  for (const auto &node : store_.list(kNodeKind, "")) schedule_node_flush(node.key.name);
  hal::log("controller")->info("controller started at store revision {}", store_.revision());
}

void Controller::stop() {
  queue_.stop();
  registry_.stop();
}

void Controller::enqueue(const StoreKey &key) {
  if (key.kind == kVmKind || key.kind == kVmiKind) {
    queue_.add(instance_queue_key(key.ns, key.name));
  } else if (key.kind == kVmimKind) {
    queue_.add("vmim/" + key.ns + "/" + key.name);
  } else if (key.kind == kNodeKind) {
    schedule_node_flush(key.name);
  }
}

WorkResult Controller::handle(const std::string &key) {
  auto first = key.find('/');
  std::string type = key.substr(0, first);
  std::string rest = key.substr(first + 1);
  auto second = rest.find('/');
  try {
    if (type == "inst") return reconcile_instance(rest.substr(0, second), rest.substr(second + 1));
    if (type == "vmim") return reconcile_migration(rest.substr(0, second), rest.substr(second + 1));
    if (type == "node") return reconcile_node(rest);
    if (type == "resync") return resync_node(rest);
    if (type == "orphans") {
      std::vector<std::string> vm_ids;
      for (const auto &[vm_id, state] : registry_.observed_vms(rest)) vm_ids.push_back(vm_id);
      handle_orphans(rest, vm_ids);
      return WorkResult::done();
    }
  } catch (const StoreError &e) {
    if (e.code() == StoreErrorCode::kConflict || e.code() == StoreErrorCode::kAlreadyExists ||
        e.code() == StoreErrorCode::kNotFound) {
      // Someone else wrote first: reconcile again from the new state.
      hal::log("controller")->debug("{}: {}; retrying", key, e.what());
      return WorkResult::after(std::chrono::milliseconds(1));
    }
    throw;
  }
  return WorkResult::done();
}

void Controller::load_placements() {
  std::lock_guard lock(mutex_);
  placements_.clear();
  vm_ids_.clear();
  for (const auto &stored : store_.list(kVmiKind, "")) {
    const auto &vmi = stored.object;
    std::string vm_id = str_at(vmi, nlohmann::json::json_pointer("/status/hal/vmId"));
    if (vm_id.empty()) vm_id = vm_id_for(stored.key.ns, stored.key.name);
    vm_ids_[vm_id] = stored.key;
    std::string node = str_at(vmi, nlohmann::json::json_pointer("/status/nodeName"));
    std::string phase = str_at(vmi, nlohmann::json::json_pointer("/status/phase"));
    if (node.empty() || phase == "Succeeded" || phase == "Failed") continue;
    ResourceRequest request;
    try {
      request = resource_request(vmi.value("spec", nlohmann::json::object()));
    } catch (const std::exception &) {
    }
    std::vector<uint32_t> host_cpus;
    if (vmi.contains("status") && vmi["status"].contains("hal") &&
        vmi["status"]["hal"].contains("hostCpus")) {
      host_cpus = vmi["status"]["hal"]["hostCpus"].get<std::vector<uint32_t>>();
    }
    placements_[stored.key] = Placement{node, request.vcpus, request.memory_bytes, host_cpus};
  }
  for (const auto &stored : store_.list(kVmimKind, "")) {
    const auto &vmim = stored.object;
    std::string phase = str_at(vmim, nlohmann::json::json_pointer("/status/phase"));
    if (phase != "Running") continue;
    std::string vm_id =
        vm_id_for(stored.key.ns, str_at(vmim, nlohmann::json::json_pointer("/spec/vmiName")));
    migrating_[vm_id] = stored.key;
    std::string target =
        str_at(vmim, nlohmann::json::json_pointer("/status/migrationState/targetNode"));
    auto vmi_key = StoreKey{kVmiKind, stored.key.ns,
                            str_at(vmim, nlohmann::json::json_pointer("/spec/vmiName"))};
    if (auto it = placements_.find(vmi_key); it != placements_.end() && !target.empty()) {
      target_placements_[stored.key] =
          Placement{target, it->second.vcpus, it->second.memory, it->second.host_cpus};
      migration_sources_[stored.key] =
          str_at(vmim, nlohmann::json::json_pointer("/status/migrationState/sourceNode"));
    }
  }
  allocations_.clear();
  for (const auto &[key, placement] : placements_) account(placement, +1);
  for (const auto &[key, placement] : target_placements_) account(placement, +1);
}

void Controller::fill_allocation(const std::string &node, SchedulerNode &view) const {
  std::lock_guard lock(mutex_);
  fill_allocation_locked(node, view);
}

void Controller::fill_allocation_locked(const std::string &node, SchedulerNode &view) const {
  auto it = allocations_.find(node);
  view.allocated_cpu_millis = it == allocations_.end() ? 0 : it->second.cpu_millis;
  view.allocated_memory = it == allocations_.end() ? 0 : it->second.memory;
  view.vm_count = it == allocations_.end() ? 0 : it->second.count;
}

const std::vector<SchedulerNode> &Controller::scheduler_nodes() {
  auto views = registry_.scheduler_views();
  if (views != scheduler_views_) {
    scheduler_nodes_ = *views;
    scheduler_views_ = std::move(views);
  }
  std::lock_guard lock(mutex_);
  for (SchedulerNode &view : scheduler_nodes_) fill_allocation_locked(view.name, view);
  return scheduler_nodes_;
}

void Controller::account(const Placement &placement, int sign) {
  Allocation &total = allocations_[placement.node];
  if (sign > 0) {
    total.cpu_millis += cpu_request_millis(placement.vcpus, !placement.host_cpus.empty());
    total.memory += placement.memory;
    ++total.count;
  } else {
    total.cpu_millis -= std::min<uint64_t>(
        total.cpu_millis, cpu_request_millis(placement.vcpus, !placement.host_cpus.empty()));
    total.memory -= std::min<uint64_t>(total.memory, placement.memory);
    total.count -= std::min<size_t>(total.count, 1);
  }
}

void Controller::place(const StoreKey &vmi_key, const Placement &placement) {
  std::lock_guard lock(mutex_);
  if (auto it = placements_.find(vmi_key); it != placements_.end()) account(it->second, -1);
  placements_[vmi_key] = placement;
  account(placement, +1);
  unschedulable_.erase(vmi_key);
}

void Controller::unplace(const StoreKey &vmi_key) {
  std::string node;
  std::set<StoreKey> waiting;
  {
    std::lock_guard lock(mutex_);
    auto it = placements_.find(vmi_key);
    if (it == placements_.end()) return;
    node = it->second.node;
    account(it->second, -1);
    placements_.erase(it);
    waiting = unschedulable_;  // Room was freed: let them try again now.
  }
  for (const auto &key : waiting) queue_.add(instance_queue_key(key.ns, key.name));
  schedule_node_flush(node);
}

void Controller::place_target(const StoreKey &vmim_key, const Placement &placement,
                              const std::string &source) {
  std::lock_guard lock(mutex_);
  if (auto it = target_placements_.find(vmim_key); it != target_placements_.end()) {
    account(it->second, -1);
  }
  target_placements_[vmim_key] = placement;
  account(placement, +1);
  migration_sources_[vmim_key] = source;
}

void Controller::unplace_target(const StoreKey &vmim_key) {
  std::lock_guard lock(mutex_);
  if (auto it = target_placements_.find(vmim_key); it != target_placements_.end()) {
    account(it->second, -1);
    target_placements_.erase(it);
  }
  migration_sources_.erase(vmim_key);
}

size_t Controller::active_migrations(const std::string &source_node) const {
  std::lock_guard lock(mutex_);
  if (source_node.empty()) return migration_sources_.size();
  size_t count = 0;
  for (const auto &[key, source] : migration_sources_) count += source == source_node ? 1 : 0;
  return count;
}

std::optional<StoreKey> Controller::vmi_for_vm_id(const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = vm_ids_.find(vm_id);
  if (it == vm_ids_.end()) return std::nullopt;
  return it->second;
}

void Controller::index_vm_id(const std::string &vm_id, const StoreKey &vmi_key) {
  std::lock_guard lock(mutex_);
  vm_ids_[vm_id] = vmi_key;
}

void Controller::schedule_node_flush(const std::string &node) {
  if (node.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (!flush_pending_.insert(node).second) return;
  }
  queue_.add_after("node/" + node, std::chrono::milliseconds(500));
}

TranslationContext Controller::translation(const std::string &vm_id) const {
  TranslationContext context;
  context.resolve_image = images_.resolver();
  context.vm_id = vm_id;
  return context;
}

WorkResult Controller::reconcile_node(const std::string &name) {
  {
    std::lock_guard lock(mutex_);
    flush_pending_.erase(name);
  }
  StoreKey key{kNodeKind, "", name};
  auto stored = store_.get(key);
  if (!stored) return WorkResult::done();
  SchedulerNode view;
  fill_allocation(name, view);
  nlohmann::json allocated{{"cpu", std::to_string(view.allocated_cpu_millis) + "m"},
                           {"memory", view.allocated_memory},
                           {"vms", view.vm_count}};
  if (stored->object.contains("status") &&
      stored->object["status"].value("allocated", nlohmann::json()) == allocated) {
    return WorkResult::done();
  }
  nlohmann::json object = stored->object;
  object["status"]["allocated"] = allocated;
  store_.update(key, object, stored->version);
  return WorkResult::done();
}

void Controller::node_registered(const std::string &node, const std::vector<std::string> &vm_ids) {
  std::set<std::string> keys;
  {
    std::lock_guard lock(mutex_);
    for (const auto &[key, placement] : placements_) {
      if (placement.node == node) keys.insert(instance_queue_key(key.ns, key.name));
    }
    for (const auto &[vmim, placement] : target_placements_) {
      if (placement.node == node) queue_.add("vmim/" + vmim.ns + "/" + vmim.name);
    }
  }
  for (const auto &vm_id : vm_ids) {
    if (auto key = vmi_for_vm_id(vm_id)) keys.insert(instance_queue_key(key->ns, key->name));
  }
  // Pending VMIs may fit now.
  for (const auto &vmi : store_.list(kVmiKind, "")) {
    std::string phase = str_at(vmi.object, nlohmann::json::json_pointer("/status/phase"));
    if (phase.empty() || phase == "Pending")
      keys.insert(instance_queue_key(vmi.key.ns, vmi.key.name));
  }
  for (const auto &key : keys) queue_.add(key);
  queue_.add("orphans/" + node);
  queue_.add_after("resync/" + node, options_.resync_interval);
  schedule_node_flush(node);
}

WorkResult Controller::resync_node(const std::string &name) {
  // A safety net under the event stream: the node's full VM list, compared with what we saw.
  if (registry_.readiness(name) != NodeReadiness::kReady) return WorkResult::done();
  auto connection = registry_.connection(name);
  if (!connection) return WorkResult::done();
  // What we believed before the call; only entries nothing changed meanwhile are corrected
  // (an event or RPC answer during the call is newer than the list).
  const std::map<std::string, std::string> before = registry_.observed_vms(name);
  v1::ListVmsRequest request;
  v1::ListVmsResponse response;
  auto context = rpc_context(options_.rpc_timeout);
  if (!connection->stub().ListVms(context.get(), request, &response).ok()) {
    return WorkResult::after(options_.resync_interval);
  }
  auto unchanged = [&](const std::string &vm_id) {
    auto it = before.find(vm_id);
    return registry_.observed(name, vm_id).value_or("") == (it == before.end() ? "" : it->second);
  };
  std::set<std::string> listed;
  auto touch = [&](const std::string &vm_id) {
    if (auto key = vmi_for_vm_id(vm_id)) queue_.add(instance_queue_key(key->ns, key->name));
  };
  for (const auto &vm : response.vms()) {
    listed.insert(vm.vm_id());
    auto it = before.find(vm.vm_id());
    if ((it == before.end() || it->second != vm.state()) && unchanged(vm.vm_id())) {
      registry_.set_observed(name, vm.vm_id(), vm.state());
      touch(vm.vm_id());
    }
  }
  for (const auto &[vm_id, state] : before) {
    if (listed.count(vm_id) == 0 && unchanged(vm_id)) {
      registry_.set_observed(name, vm_id, "");
      touch(vm_id);
    }
  }
  return WorkResult::after(options_.resync_interval);
}

void Controller::node_not_ready(const std::string &node) {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mutex_);
    for (const auto &[key, placement] : placements_) {
      if (placement.node == node) keys.push_back(instance_queue_key(key.ns, key.name));
    }
    for (const auto &[vmim, placement] : target_placements_) {
      keys.push_back("vmim/" + vmim.ns + "/" + vmim.name);
    }
  }
  for (const auto &key : keys) queue_.add(key);
}

void Controller::node_event(const std::string &, const v1::NodeEvent &event) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = migrating_.find(event.vm_id()); it != migrating_.end()) {
      queue_.add("vmim/" + it->second.ns + "/" + it->second.name);
      if (event.type() == "migration-progress") return;
    }
  }
  if (auto key = vmi_for_vm_id(event.vm_id())) queue_.add(instance_queue_key(key->ns, key->name));
}

}  // namespace hal::controller
