// controller.cc - Controller construction, start-up from the store, queue dispatch to the
// reconcilers and the node listener callbacks.
#include "controller/server/controller.h"

#include <algorithm>
#include <set>

#include "controller/server/object_util.h"
#include "core/log/log.h"

namespace hal::controller {

Controller::Controller(Store &store, const ImageCatalog &images, ControllerOptions options)
    : store_(store),
      options_(options),
      registry_(store, options.nodes, this),
      queue_(WorkQueueOptions{options.workers, options.retry_base, options.retry_max},
             [this](const std::string &key) { return handle(key); }),
      call_slots_(std::min<std::size_t>(options.calls_per_node,
                                        options.workers > 1 ? options.workers - 1 : 1),
                  [this](const std::string &key) { queue_.add(key); }),
      shared_(store, images, options_, registry_, queue_, call_slots_, placements_),
      instances_(shared_),
      migrations_(shared_),
      nodes_(shared_),
      orphans_(shared_),
      actions_(shared_) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  registry_.load_from_store();
  placements_.load(store_);
  registry_.start();
  queue_.start();
  for (const char *kind : {kVmKind, kVmiKind, kVmimKind, kNodeKind}) {
    for (const auto &object : store_.list(kind, "")) enqueue(object.key);
  }
  hal::log("controller")->info("controller started at store revision {}", store_.revision());
}

void Controller::stop() {
  queue_.stop();
  registry_.stop();
}

void Controller::enqueue(const StoreKey &key) {
  shared_.queue_object(key);
}

WorkResult Controller::handle(const std::string &key) {
  auto first = key.find('/');
  std::string type = key.substr(0, first);
  std::string rest = key.substr(first + 1);
  auto second = rest.find('/');
  try {
    if (type == "inst")
      return instances_.reconcile(rest.substr(0, second), rest.substr(second + 1));
    if (type == "vmim") {
      return migrations_.reconcile(rest.substr(0, second), rest.substr(second + 1));
    }
    if (type == "node") return nodes_.flush_status(rest);
    if (type == "resync") return nodes_.resync(rest);
    if (type == "orphans") return orphans_.reconcile(rest);
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

void Controller::node_registered(const std::string &node, const std::vector<std::string> &vm_ids) {
  std::set<std::string> keys;
  for (const StoreKey &vmi : placements_.vmis_on(node))
    keys.insert(instance_queue_key(vmi.ns, vmi.name));
  for (const StoreKey &vmim : placements_.migrations_with_target(node))
    shared_.queue_migration(vmim);
  for (const auto &vm_id : vm_ids) {
    if (auto key = placements_.vmi_for_vm_id(vm_id))
      keys.insert(instance_queue_key(key->ns, key->name));
  }
  // Pending VMIs may fit now.
  for (const auto &vmi : store_.list(kVmiKind, "")) {
    std::string phase = str_at(vmi.object, nlohmann::json::json_pointer("/status/phase"));
    if (phase.empty() || phase == "Pending")
      keys.insert(instance_queue_key(vmi.key.ns, vmi.key.name));
  }
  for (const auto &key : keys) queue_.add(key);
  orphans_.node_registered(node);  // its stale copies go, its orphans are reported
  queue_.add("orphans/" + node);
  queue_.add_after("resync/" + node, options_.resync_interval);
  shared_.schedule_node_flush(node);
}

void Controller::node_not_ready(const std::string &node) {
  for (const StoreKey &vmi : placements_.vmis_on(node)) shared_.queue_instance(vmi);
  // Any migration may have this node as its source.
  for (const StoreKey &vmim : placements_.migrations_with_target()) shared_.queue_migration(vmim);
}

std::string Controller::vm_assigned_elsewhere(const std::string &node,
                                              const std::string &vm_id) const {
  return placements_.assigned_elsewhere(vm_id, node);
}

void Controller::node_event(const std::string &node, const v1::NodeEvent &event) {
  if (auto vmim = placements_.migration_of(event.vm_id())) {
    shared_.queue_migration(*vmim);
    if (event.type() == "migration-progress") return;
  }
  if (auto key = placements_.vmi_for_vm_id(event.vm_id())) {
    shared_.queue_instance(*key);
  } else if (!event.vm_id().empty()) {
    queue_.add("orphans/" + node);  // a VM the controller did not place, or one gone
  }
}

}  // namespace hal::controller
