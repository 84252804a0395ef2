// memvisor_vm.cc - memvisor's VM state machine (hal.h, "lifecycle"). Every transition happens
// and emits its event under the store's mutex, so one VM's events leave in order (LC-029).
#include "memvisor_vm.h"

#include <nlohmann/json.hpp>

namespace memvisor {

using hal::plugin::Failure;

MemVm::MemVm(Store &store, std::shared_ptr<VmRecord> record, std::atomic<int> &handles)
    : store_(store), record_(std::move(record)), handles_(handles) {
  ++handles_;
}

MemVm::~MemVm() {
  --handles_;
}

VmRecord &MemVm::live(const char *op) {
  if (record_->deleted) {
    throw Failure(HAL_NOT_FOUND, std::string(op) + ": VM '" + record_->id + "' was deleted");
  }
  return *record_;
}

void MemVm::refuse(const char *op, const VmRecord &vm, const char *hint) {
  throw Failure(HAL_FAILED_PRECONDITION,
                std::string(op) + ": VM '" + vm.id + "' is " + state_name(vm.state) + "; " + hint);
}

void MemVm::start(uint32_t flags) {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_start");
  if (vm.state == HAL_VM_STATE_RUNNING) return;  // idempotent, no event (LC-010)
  if (vm.state != HAL_VM_STATE_STOPPED && vm.state != HAL_VM_STATE_CRASHED) {
    refuse("vm_start", vm, "only a Stopped or Crashed VM starts");
  }
  Store::boot(vm);
  store_.set_state(vm, (flags & HAL_START_PAUSED) ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING,
                   "started");
}

void MemVm::force_stop() {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_force_stop");
  if (vm.state == HAL_VM_STATE_STOPPED || vm.state == HAL_VM_STATE_MIGRATED) return;
  store_.set_state(vm, HAL_VM_STATE_STOPPED, "force stop");
}

void MemVm::remove(uint32_t /*flags: memvisor has no storage to keep or remove*/) {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_delete");
  if (vm.state != HAL_VM_STATE_STOPPED && vm.state != HAL_VM_STATE_CRASHED &&
      vm.state != HAL_VM_STATE_MIGRATED) {
    refuse("vm_delete", vm, "stop it first");
  }
  store_.vms.erase(vm.id);
  store_.emit(vm, HAL_EVENT_VM_DELETED);  // the last event of this VM (LC-031)
  vm.deleted = true;
}

hal_vm_state MemVm::state() {
  std::lock_guard lock(store_.mu);
  return live("vm_get_state").state;
}

std::string MemVm::info() {
  std::lock_guard lock(store_.mu);
  const VmRecord &vm = live("vm_get_info");
  auto uptime = vm.guest.uptime;
  if (vm.state == HAL_VM_STATE_RUNNING)
    uptime += std::chrono::steady_clock::now() - vm.guest.resumed_at;
  const auto uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(uptime).count();
  // "guest" is what the backend observes of the guest itself: here the simulated clock, frozen
  // while Paused (LC-007); a heartbeat every second of guest time.
  nlohmann::json doc = {{"id", vm.id},
                        {"state", state_name(vm.state)},
                        {"spec", nlohmann::json::parse(vm.spec_json)},
                        {"guest",
                         {{"bootCount", vm.guest.boot_count},
                          {"heartbeat", uptime_ms / 1000},
                          {"uptimeMs", uptime_ms}}}};
  return doc.dump();
}

void MemVm::pause() {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_pause");
  if (vm.state == HAL_VM_STATE_PAUSED) return;
  if (vm.state != HAL_VM_STATE_RUNNING) refuse("vm_pause", vm, "only a Running VM pauses");
  store_.set_state(vm, HAL_VM_STATE_PAUSED, "paused");
}

void MemVm::resume() {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_resume");
  if (vm.state == HAL_VM_STATE_RUNNING) return;
  if (vm.state != HAL_VM_STATE_PAUSED) refuse("vm_resume", vm, "only a Paused VM resumes");
  store_.set_state(vm, HAL_VM_STATE_RUNNING, "resumed");
}

void MemVm::shutdown(uint32_t /*timeout_ms*/, uint32_t /*flags*/) {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_shutdown");
  if (vm.state == HAL_VM_STATE_STOPPED) return;
  if (vm.state != HAL_VM_STATE_RUNNING && vm.state != HAL_VM_STATE_PAUSED &&
      vm.state != HAL_VM_STATE_SHUTTING_DOWN) {
    refuse("vm_shutdown", vm, "only a Running or Paused VM shuts down");
  }
  // The simulated guest honours the ACPI request at once, so the timeout never runs out.
  store_.set_state(vm, HAL_VM_STATE_STOPPED, "guest powered off (ACPI)");
}

void MemVm::reboot() {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_reboot");
  if (vm.state != HAL_VM_STATE_RUNNING) refuse("vm_reboot", vm, "only a Running VM reboots");
  Store::boot(vm);
  store_.emit(vm, HAL_EVENT_GUEST_REBOOTED, R"({"reason":"vm_reboot"})");
}

void MemVm::reset() {
  std::lock_guard lock(store_.mu);
  VmRecord &vm = live("vm_reset");
  if (vm.state != HAL_VM_STATE_RUNNING && vm.state != HAL_VM_STATE_PAUSED) {
    refuse("vm_reset", vm, "only a Running or Paused VM resets");
  }
  Store::boot(vm);
  store_.emit(vm, HAL_EVENT_GUEST_REBOOTED, R"({"reason":"vm_reset"})");
}

}  // namespace memvisor
