// vm_controller_base.h - what every backend's per-VM controller keeps the same way: its spec and
// state directory, the one mutex that guards its state, the state itself with the STATE_CHANGED
// event each change emits, the deleted and detached flags, and the ABI's errors for an operation
// asked of a deleted VM (NOT_FOUND) or of a VM in the wrong state (FAILED_PRECONDITION). A
// backend derives its VmController from it and adds its protocol: process, client, events.
#ifndef HAL_BACKENDS_COMMON_VM_CONTROLLER_BASE_H
#define HAL_BACKENDS_COMMON_VM_CONTROLLER_BASE_H

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "core/spec/vm_spec.h"
#include "hal/names.h"
#include "hal/plugin.hpp"

namespace hal::backend_common {

/** The shared part of one VM's controller. `Settings` is the backend's settings shared by its
 *  VMs, with `state_root` (a path) and `events` (a hal::plugin::EventSink); `Dir` is its
 *  VmStateDir, made from (state root, VM name).
 *
 *  The members are protected on purpose: the derived controller's operations read and change
 *  them under `mutex_` together with their own protocol state, and every *_locked function
 *  expects `mutex_` held. */
template <class Settings, class Dir>
class VmControllerBase {
 public:
  /** A VM in state STOPPED defined by `spec`. */
  VmControllerBase(std::shared_ptr<const Settings> settings, VmSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}
  VmControllerBase(const VmControllerBase &) = delete;
  VmControllerBase &operator=(const VmControllerBase &) = delete;

  /** The VM id (its spec name). */
  const std::string &id() const { return spec_.name; }
  /** The typed spec. */
  const VmSpec &spec() const { return spec_; }
  /** The VM's state directory. */
  Dir dir() const { return Dir(settings_->state_root, spec_.name); }
  /** The current state; Failure(HAL_NOT_FOUND) once deleted. */
  hal_vm_state state() const {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    return state_;
  }
  /** True once the VM was deleted (vm_delete succeeded). */
  bool deleted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return deleted_;
  }

 protected:
  ~VmControllerBase() = default;

  /** Moves to `state` (nothing when already there), wakes `cv_` and emits STATE_CHANGED with
   *  {"reason": reason} (an empty reason: {}). */
  void set_state_locked(hal_vm_state state, const std::string &reason) {
    if (state == state_) return;
    state_ = state;
    cv_.notify_all();
    nlohmann::json detail = nlohmann::json::object();
    if (!reason.empty()) detail["reason"] = reason;
    emit_locked(HAL_EVENT_STATE_CHANGED, detail);
  }
  /** Emits event `type` with the current state and `detail` (null: no detail); nothing once
   *  detached. */
  void emit_locked(hal_event_type type, const nlohmann::json &detail) const {
    if (detached_) return;
    settings_->events.emit(type, spec_.name, state_,
                           detail.is_null() ? std::string() : detail.dump());
  }
  /** Failure(HAL_NOT_FOUND) once deleted. */
  void check_not_deleted_locked() const {
    if (deleted_) throw hal::plugin::Failure(HAL_NOT_FOUND, "VM '" + spec_.name + "' was deleted");
  }
  /** Throws Failure(HAL_FAILED_PRECONDITION) for operation `op` asked in the current state:
   *  "<op>: VM '<name>' is <State><more>". */
  [[noreturn]] void refuse_locked(std::string_view op, std::string_view more = {}) const {
    throw hal::plugin::Failure(HAL_FAILED_PRECONDITION, std::string(op) + ": VM '" + spec_.name +
                                                            "' is " + hal_vm_state_name(state_) +
                                                            std::string(more));
  }

  /** At open(), for a VM whose hypervisor `hypervisor` (e.g. "QEMU") with `pid` exited while no
   *  backend was watching it (FoundProcess::kGone): CRASHED, reported as hal.h's close asks
   *  (the next open() reports what happened meanwhile) by STATE_CHANGED and GUEST_CRASHED,
   *  whose reason says so and whose `log_key` holds `log_tail` (the end of its output log). */
  void crashed_while_unwatched_locked(const std::string &hypervisor, pid_t pid,
                                      const std::string &log_key, const std::string &log_tail) {
    const std::string how =
        hypervisor + " (pid " + std::to_string(pid) + ") exited while no backend was watching it";
    set_state_locked(HAL_VM_STATE_CRASHED, how);
    emit_locked(HAL_EVENT_GUEST_CRASHED, {{"reason", how}, {log_key, log_tail}});
  }

  /** The backend's settings. */
  std::shared_ptr<const Settings> settings_;
  /** The spec (its name is the id). */
  VmSpec spec_;
  /** Guards everything below and the derived controller's own state. */
  mutable std::mutex mutex_;
  /** Notified on every state change (and by the derived controller for its own waits). */
  std::condition_variable cv_;
  /** The current state. */
  hal_vm_state state_ = HAL_VM_STATE_STOPPED;
  /** No events after detach() (close) or delete. */
  bool detached_ = false;
  /** Set by a successful vm_delete. */
  bool deleted_ = false;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_VM_CONTROLLER_BASE_H
