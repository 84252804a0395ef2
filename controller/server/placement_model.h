// placement_model.h - the controller's model of where VMIs run: each VMI's placement (node,
// vCPUs, memory, dedicated host CPUs), the target each running migration has reserved and its
// source, the per-node totals the scheduler sees, the HAL vm id → VMI index, the VMs being
// migrated and the VMIs waiting for room. Rebuilt from the store at start; thread-safe. It makes
// no node calls and queues nothing: the reconcilers act on what it answers.
#ifndef HAL_CONTROLLER_SERVER_PLACEMENT_MODEL_H
#define HAL_CONTROLLER_SERVER_PLACEMENT_MODEL_H

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/server/scheduler.h"
#include "controller/store/store.h"

namespace hal::controller {

/** Where one VMI runs (or a migration's target is reserved) and what it holds there. */
struct Placement {
  std::string node;                 ///< Node name.
  uint32_t vcpus = 0;               ///< Guest vCPUs.
  uint64_t memory = 0;              ///< Guest memory bytes.
  std::vector<uint32_t> host_cpus;  ///< Dedicated host CPUs (dedicatedCpuPlacement).
};

/** What removing a placement freed. */
struct FreedPlacement {
  std::string node;            ///< The node the VMI was placed on.
  std::set<StoreKey> waiting;  ///< VMIs waiting for room, to try again now.
};

/** The placement model. */
class PlacementModel {
 public:
  /** Replaces the model with what the store's VMIs and running VMIMs say. */
  void load(const Store &store);

  /** Places (or moves) a VMI; it no longer waits for room. */
  void place(const StoreKey &vmi_key, const Placement &placement);
  /** Removes a VMI's placement; nullopt when it had none. */
  std::optional<FreedPlacement> unplace(const StoreKey &vmi_key);
  /** Reserves a migration's target (and records its source). */
  void place_target(const StoreKey &vmim_key, const Placement &placement,
                    const std::string &source);
  /** Releases a migration's target reservation. */
  void unplace_target(const StoreKey &vmim_key);
  /** Dedicated host CPUs reserved on a migration's target (empty when none). */
  std::vector<uint32_t> target_host_cpus(const StoreKey &vmim_key) const;
  /** Migrations holding a target, all of them or those out of `source_node`. */
  std::size_t active_migrations(const std::string &source_node = "") const;

  /** The VMI a HAL vm id belongs to. */
  std::optional<StoreKey> vmi_for_vm_id(const std::string &vm_id) const;
  /** Records which VMI a HAL vm id belongs to. */
  void index_vm_id(const std::string &vm_id, const StoreKey &vmi_key);

  /** Marks `vm_id` as moving under the migration `vmim_key`. */
  void set_migrating(const std::string &vm_id, const StoreKey &vmim_key);
  /** Ends what set_migrating marked. */
  void clear_migrating(const std::string &vm_id);
  /** The migration moving `vm_id`, if any. */
  std::optional<StoreKey> migration_of(const std::string &vm_id) const;
  /** The node `vm_id` is assigned to when `node` has no part in it: its VMI is placed on
   *  another node and no migration of it has `node` as source or target. "" when `node` may
   *  report on it (placed there, migrating from or to it, not placed, or no VMI's). */
  std::string assigned_elsewhere(const std::string &vm_id, const std::string &node) const;

  /** Marks a VMI as waiting for room (handed back by unplace of another VMI). */
  void wait_for_room(const StoreKey &vmi_key);
  /** The VMI no longer waits for room. */
  void stop_waiting(const StoreKey &vmi_key);

  /** Fills a scheduler view's allocated CPU, memory and VM count for its node. */
  void fill_allocation(SchedulerNode &view) const;
  /** fill_allocation for every view, under one lock. */
  void fill_allocations(std::vector<SchedulerNode> &views) const;
  /** Dedicated host CPUs held on `node` by placements and migration targets. */
  std::set<uint32_t> host_cpus_in_use(const std::string &node) const;
  /** VMIs placed on `node`. */
  std::vector<StoreKey> vmis_on(const std::string &node) const;
  /** Migrations with a reserved target, all of them or those whose target is `node`. */
  std::vector<StoreKey> migrations_with_target(const std::string &node = "") const;

 private:
  struct Allocation {
    uint64_t cpu_millis = 0;  // CPU requests (cpu_request_millis)
    uint64_t memory = 0;
    std::size_t count = 0;
  };
  void account(const Placement &placement, int sign);  // mutex_ held
  void fill_locked(SchedulerNode &view) const;         // mutex_ held

  mutable std::mutex mutex_;
  std::map<StoreKey, Placement> placements_;           // VMI → where it runs
  std::map<StoreKey, Placement> target_placements_;    // VMIM → reserved target
  std::map<StoreKey, std::string> migration_sources_;  // VMIM with a target → source node
  std::map<std::string, Allocation> allocations_;      // node → totals of both maps above
  std::map<std::string, StoreKey> vm_ids_;             // HAL vm id → VMI
  std::map<std::string, StoreKey> migrating_;          // HAL vm id → active VMIM
  std::set<StoreKey> waiting_for_room_;                // unschedulable VMIs
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_PLACEMENT_MODEL_H
