// reconcile_context.cc - the reconcilers' shared helpers.
#include "controller/server/reconcile_context.h"

#include "controller/server/cpu_placement.h"
#include "controller/server/object_util.h"
#include "hal/host.hpp"

namespace hal::controller {

std::string instance_queue_key(const std::string &ns, const std::string &name) {
  return "inst/" + ns + "/" + name;
}

std::string migration_queue_key(const std::string &ns, const std::string &name) {
  return "vmim/" + ns + "/" + name;
}

ReconcileContext::ReconcileContext(Store &store, const ImageCatalog &images,
                                   const ControllerOptions &options, NodeRegistry &registry,
                                   WorkQueue &queue, NodeCallSlots &slots,
                                   PlacementModel &placements)
    : store(store),
      images(images),
      options(options),
      registry(registry),
      queue(queue),
      calls(registry, slots, options.rpc_timeout),
      placements(placements) {}

void ReconcileContext::queue_instance(const StoreKey &key) {
  queue.add(instance_queue_key(key.ns, key.name));
}

void ReconcileContext::queue_migration(const StoreKey &key) {
  queue.add(migration_queue_key(key.ns, key.name));
}

void ReconcileContext::queue_object(const StoreKey &key) {
  if (key.kind == kVmKind || key.kind == kVmiKind) {
    queue_instance(key);
  } else if (key.kind == kVmimKind) {
    queue_migration(key);
  } else if (key.kind == kNodeKind) {
    schedule_node_flush(key.name);
  }
}

std::unique_lock<std::mutex> ReconcileContext::scheduling_lock() {
  return std::unique_lock(schedule_mutex_);
}

const std::vector<SchedulerNode> &ReconcileContext::scheduler_nodes() {
  auto views = registry.scheduler_views();
  if (views != scheduler_views_) {
    scheduler_nodes_ = *views;
    scheduler_views_ = std::move(views);
  }
  placements.fill_allocations(scheduler_nodes_);
  return scheduler_nodes_;
}

TranslationContext ReconcileContext::translation(const std::string &vm_id) const {
  TranslationContext context;
  context.resolve_image = images.resolver();
  context.vm_id = vm_id;
  return context;
}

nlohmann::json ReconcileContext::hal_spec_for(const nlohmann::json &vmi_spec,
                                              const std::string &vm_id, const std::string &node,
                                              const ResourceRequest &request,
                                              std::vector<uint32_t> *host_cpus) const {
  if (!request.dedicated_cpus) return to_hal_spec(vmi_spec, translation(vm_id));
  auto snapshot = registry.node(node);
  std::optional<CpuPlacement> placement;
  if (snapshot) {
    placement =
        pick_host_cpus(*snapshot->host_info, placements.host_cpus_in_use(node), request.vcpus);
  }
  if (!placement) {
    throw hal::Error(HAL_RESOURCE_EXHAUSTED, "node " + node + " has fewer than " +
                                                 std::to_string(request.vcpus) +
                                                 " free host CPUs for dedicatedCpuPlacement");
  }
  if (host_cpus != nullptr) *host_cpus = placement->host_cpus;
  return to_hal_spec(vmi_spec, translation(vm_id), *placement);
}

void ReconcileContext::unplace(const StoreKey &vmi_key) {
  auto freed = placements.unplace(vmi_key);
  if (!freed) return;
  for (const auto &key : freed->waiting) queue_instance(key);  // room was freed: try again now
  schedule_node_flush(freed->node);
}

void ReconcileContext::schedule_node_flush(const std::string &node) {
  if (node.empty()) return;
  {
    std::lock_guard lock(flush_mutex_);
    if (!flush_pending_.insert(node).second) return;
  }
  queue.add_after("node/" + node, std::chrono::milliseconds(500));
}

void ReconcileContext::flush_started(const std::string &node) {
  std::lock_guard lock(flush_mutex_);
  flush_pending_.erase(node);
}

}  // namespace hal::controller
