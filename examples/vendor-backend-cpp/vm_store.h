// vm_store.h - memvisor's VMs: one record per VM with its state machine and simulated guest,
// kept in a store per "instance" (config key) that outlives close(), so a later open() of the
// same instance re-adopts its VMs as a real backend finds its hypervisor processes again.
#ifndef MEMVISOR_VM_STORE_H
#define MEMVISOR_VM_STORE_H

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "hal/plugin.hpp"

namespace memvisor {

/** A guest simulated by its clock: it runs only while the VM is RUNNING. */
struct Guest {
  int64_t boot_count = 0;  ///< Boots so far (start, reboot and reset each boot once).
  std::chrono::steady_clock::duration uptime{};      ///< Run time of the current boot.
  std::chrono::steady_clock::time_point resumed_at;  ///< When it last began running.
};

/** One VM. Every member is guarded by its Store's mutex. */
struct VmRecord {
  std::string id;                             ///< The spec's name.
  std::string spec_json;                      ///< The spec as created (vm_get_info's "spec").
  hal_vm_state state = HAL_VM_STATE_STOPPED;  ///< Current state.
  bool deleted = false;                       ///< vm_delete ran: every handle answers NOT_FOUND.
  Guest guest;                                ///< The simulated guest.
};

/** The VMs of one instance and the event sinks of the backends open on it. */
class Store {
 public:
  /** The store of `instance`, created on first use; it lives as long as the process. */
  static Store &of(const std::string &instance);

  /** Guards everything below and every VmRecord of this store. Events are emitted with it held,
   *  so once a backend's sink is removed (close) no delivery to it is in flight or can start. */
  std::mutex mu;
  /** VMs by id. A deleted VM leaves the map; handles keep their record (marked deleted). */
  std::map<std::string, std::shared_ptr<VmRecord>> vms;

  /** Registers the event sink of an open backend; answers its key for remove_sink. */
  uint64_t add_sink(hal::plugin::EventSink sink);
  /** Unregisters a sink (close). */
  void remove_sink(uint64_t key);
  /** Sends one event about `vm` to every open backend of this instance. Caller holds mu. */
  void emit(const VmRecord &vm, hal_event_type type, const std::string &detail_json = {}) const;
  /** Moves `vm` to `state`: updates its guest clock and emits STATE_CHANGED. Caller holds mu. */
  void set_state(VmRecord &vm, hal_vm_state state, const std::string &reason);
  /** Boots the guest afresh (start, reboot, reset). Caller holds mu. */
  static void boot(VmRecord &vm);

 private:
  std::map<uint64_t, hal::plugin::EventSink> sinks_;
  uint64_t next_sink_ = 1;
};

/** The state names vm_list and vm_get_info use ("Stopped", "Running", ...). */
const char *state_name(hal_vm_state state);

}  // namespace memvisor

#endif  // MEMVISOR_VM_STORE_H
