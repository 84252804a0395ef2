// mock_store.h - the mock's VM records and the sharded store that holds them, shared by every
// backend instance opened with the same "instance" name (or "stateDir", persisted as JSON files).
#ifndef HAL_BACKENDS_MOCK_MOCK_STORE_H
#define HAL_BACKENDS_MOCK_MOCK_STORE_H

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hal/hal.h"
#include "mock_config.h"
#include "state_journal.h"

namespace hal::mock {

/** Wall-clock milliseconds since the Unix epoch (guest clocks use it so they can be persisted). */
int64_t now_ms();

/** JSON state name ("Running", ...) of a hal_vm_state. */
const char *state_name(hal_vm_state state);
/** hal_vm_state of a JSON state name; UNKNOWN when unknown. */
hal_vm_state state_from_name(const std::string &name);

/** Progress of one migration, on the source or the target. Guarded by its own mutex. */
struct MigrationJob {
  std::mutex mu;
  std::condition_variable cv;
  /** "setup" | "active" | "completed" | "failed" | "cancelled". */
  std::string status = "setup";
  /** "source" | "target". */
  std::string role;
  uint64_t total_bytes = 0;
  uint64_t transferred_bytes = 0;
  uint64_t dirty_rate = 0;
  int64_t expected_downtime_ms = 0;
  int64_t downtime_ms = -1;
  /** Why it failed or was cancelled. */
  std::string error;
  /** Set by migration_cancel, force stop or close; the worker notices and stops. */
  std::atomic<bool> cancel{false};
  /** True once status is final. */
  bool finished = false;

  /** The migration-progress document; takes mu. */
  nlohmann::json progress();
  /** Sets a final status and wakes waiters; takes mu. */
  void finish(const std::string &final_status, const std::string &why);
};

/** One VM. Every field is guarded by mu. */
struct VmRecord {
  std::mutex mu;
  std::string id;
  /** The effective spec, compact JSON (parsed on demand to keep 100k VMs small). */
  std::string spec;
  uint64_t memory_bytes = 0;
  bool tdx = false;
  hal_vm_state state = HAL_VM_STATE_STOPPED;
  bool deleted = false;
  /** Simulated guest: boots so far, running time before run_since_ms, clock start (0 = frozen),
   *  running time at the last boot. */
  uint64_t boot_count = 0;
  int64_t run_accum_ms = 0;
  int64_t run_since_ms = 0;
  int64_t boot_at_run_ms = 0;
  /** Grows at every start; a pending crash timer only fires for its own generation. */
  uint64_t generation = 0;
  /** Current or last migration. */
  std::shared_ptr<MigrationJob> migration;

  /** True while a guest exists: RUNNING, PAUSED or SHUTTING_DOWN (it can crash or shut down). */
  bool guest_up() const {
    return state == HAL_VM_STATE_RUNNING || state == HAL_VM_STATE_PAUSED ||
           state == HAL_VM_STATE_SHUTTING_DOWN;
  }
  /** Total guest running time (ms). */
  int64_t run_ms() const {
    return run_accum_ms + (run_since_ms != 0 ? now_ms() - run_since_ms : 0);
  }
  /** Starts the guest clock. */
  void clock_start() {
    if (run_since_ms == 0) run_since_ms = now_ms();
  }
  /** Stops the guest clock, keeping the time run so far. */
  void clock_stop() {
    if (run_since_ms == 0) return;
    run_accum_ms += now_ms() - run_since_ms;
    run_since_ms = 0;
  }
  /** The simulated guest's state: {"bootCount","heartbeat","uptimeMs"}. */
  nlohmann::json guest() const;
};

/** The VMs of one instance name or state directory. Thread-safe (sharded shared_mutex map). */
class Store {
 public:
  /** The process-wide store for `config` (by stateDir, else by instance), loading the state
   *  directory when no open backend holds it. */
  static std::shared_ptr<Store> attach(const Config &config);

  /** The VM named `id`, or nullptr. */
  std::shared_ptr<VmRecord> find(const std::string &id);
  /** Adds a VM; false when the name is taken. */
  bool insert(const std::shared_ptr<VmRecord> &record);
  /** Removes a VM (and its file). */
  void erase(const std::string &id);
  /** Every VM record (a snapshot). */
  std::vector<std::shared_ptr<VmRecord>> all();
  /** How many VMs there are. */
  size_t size() const { return count_.load(); }
  /** Appends the VM's state to the state directory's journal when persistent; the caller holds
   *  record.mu. (One journal rather than a file per VM: creating a file per write cost the node
   *  agent most of its CPU with thousands of VMs.) */
  void persist(const VmRecord &record);

 private:
  static constexpr size_t kShards = 64;
  struct Shard {
    std::shared_mutex mu;
    std::unordered_map<std::string, std::shared_ptr<VmRecord>> vms;
  };
  Shard &shard(const std::string &id) { return shards_[std::hash<std::string>{}(id) % kShards]; }
  void load();

  std::array<Shard, kShards> shards_;
  std::atomic<size_t> count_{0};
  std::string dir_;
  std::unique_ptr<StateJournal> journal_;  ///< Set when dir_ is.
};

}  // namespace hal::mock

#endif  // HAL_BACKENDS_MOCK_MOCK_STORE_H
