// vm_store.cc - memvisor's per-instance VM store, its events and the simulated guest clock.
#include "vm_store.h"

#include <nlohmann/json.hpp>

namespace memvisor {

Store &Store::of(const std::string &instance) {
  static std::mutex registry_mu;
  static std::map<std::string, std::unique_ptr<Store>> registry;
  std::lock_guard lock(registry_mu);
  auto &store = registry[instance];
  if (!store) store = std::make_unique<Store>();
  return *store;
}

uint64_t Store::add_sink(hal::plugin::EventSink sink) {
  std::lock_guard lock(mu);
  uint64_t key = next_sink_++;
  sinks_.emplace(key, sink);
  return key;
}

void Store::remove_sink(uint64_t key) {
  std::lock_guard lock(mu);
  sinks_.erase(key);
}

void Store::emit(const VmRecord &vm, hal_event_type type, const std::string &detail_json) const {
  for (const auto &[key, sink] : sinks_) sink.emit(type, vm.id, vm.state, detail_json);
}

void Store::set_state(VmRecord &vm, hal_vm_state state, const std::string &reason) {
  const auto now = std::chrono::steady_clock::now();
  if (vm.state == HAL_VM_STATE_RUNNING) vm.guest.uptime += now - vm.guest.resumed_at;
  if (state == HAL_VM_STATE_RUNNING) vm.guest.resumed_at = now;
  vm.state = state;
  emit(vm, HAL_EVENT_STATE_CHANGED, nlohmann::json{{"reason", reason}}.dump());
}

void Store::boot(VmRecord &vm) {
  ++vm.guest.boot_count;
  vm.guest.uptime = {};
  vm.guest.resumed_at = std::chrono::steady_clock::now();
}

const char *state_name(hal_vm_state state) {
  switch (state) {
    case HAL_VM_STATE_STOPPED:
      return "Stopped";
    case HAL_VM_STATE_STARTING:
      return "Starting";
    case HAL_VM_STATE_RUNNING:
      return "Running";
    case HAL_VM_STATE_PAUSED:
      return "Paused";
    case HAL_VM_STATE_SHUTTING_DOWN:
      return "ShuttingDown";
    case HAL_VM_STATE_CRASHED:
      return "Crashed";
    case HAL_VM_STATE_INCOMING:
      return "Incoming";
    case HAL_VM_STATE_MIGRATED:
      return "Migrated";
    default:
      return "Unknown";
  }
}

}  // namespace memvisor
