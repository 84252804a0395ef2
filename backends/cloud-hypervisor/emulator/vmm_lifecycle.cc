// vmm_lifecycle.cc - the emulated VMM's lifecycle endpoints (see vmm.h), as Cloud Hypervisor
// v45.0 to v53.0 answers them: vm.create only stores the config (validated at boot), vm.boot
// builds the VM (404 without a config), vm.shutdown drops the VM and keeps the config (vm.info
// then says Created), vm.reboot rebuilds it (404 without a VM), a wrong state is a 500 with the
// VMM's reason, vm.delete without a config succeeds, vmm.shutdown answers 200 and the VMM exits,
// as it does when the guest powers off.
#include <unistd.h>

#include <thread>

#include "backends/cloud-hypervisor/emulator/vmm.h"

namespace hal::ch_emulator {
using nlohmann::json;

namespace {
// "Invalid transition" as the VMM's pause/resume of a VM in the wrong state words it.
std::vector<std::string> invalid_transition(bool pause, const char *from, const char *to) {
  return {pause ? "Cannot pause VM" : "Cannot resume VM",
          pause ? "Failed to pause migratable component" : "Failed to resume migratable component",
          std::string("Invalid transition: InvalidStateTransition(") + from + ", " + to + ")"};
}
}  // namespace

ApiResponse Vmm::create(const json &config) {
  static const char *kAction = "The VM could not be created";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (state_ != State::kNone) return api_error(500, kAction, {vm_error::kAlreadyCreated});
  // Only stored (the VMM validates a config when it boots it); the console devices are made
  // now, and a failure leaves the config stored, as upstream does.
  config_ = normalized(config);
  state_ = State::kCreated;
  device_counter_ = 100;
  if (auto error = open_console_locked()) {
    return api_error(500, kAction, {"Error creating console devices", *error});
  }
  return kNoContent;
}

std::optional<std::string> Vmm::open_console_locked() {
  if (serial_) return std::nullopt;
  const json serial = config_.value("serial", json{{"mode", "Null"}});
  const std::string mode = serial["mode"];
  if (mode != "Socket" && mode != "File" && mode != "Tty") return std::nullopt;
  try {
    serial_ = std::make_shared<SerialPort>(
        mode, mode == "Socket" ? serial.value("socket", "") : serial.value("file", ""),
        release_ >= ChVersion{53, 0});
  } catch (const std::exception &e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

void Vmm::start_guest_locked(const GuestState *resumed) {
  const bool pvpanic = config_.value("pvpanic", false);
  guest_ = std::make_unique<SimulatedGuest>(
      config_, serial_, [this] { on_guest_power_off(); },
      [this, pvpanic] {
        // Only a pvpanic device tells the VMM; the VM itself goes on "running".
        if (pvpanic) emit("guest", "panic", {{"event", "panic"}});
      },
      resumed);
}

void Vmm::stop_guest_locked() {
  // Dropping the VM drops its serial manager, which removes the socket file.
  guest_.reset();
  serial_.reset();
}

void Vmm::on_guest_power_off() {
  // The guest thread cannot join itself: tear down from a detached thread, like the VMM's exit
  // event handler does (vmm_shutdown: the VM is shut down and deleted, then the VMM exits).
  std::thread([this] {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_guest_locked();
      state_ = State::kNone;
      config_ = nullptr;
    }
    emit("vm", "shutdown");
    emit("vm", "deleted");
    emit("vmm", "shutdown");
    exit_();
  }).detach();
}

ApiResponse Vmm::boot() {
  static const char *kAction = "The VM could not boot";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (has_vm_locked()) return api_error(500, kAction, {vm_error::kAlreadyCreated});
  emit("vm", "booting");
  if (state_ == State::kNone) return api_error(404, kAction, {vm_error::kMissingConfig});
  std::vector<std::string> errors = validation_errors(config_, context_);
  if (!errors.empty()) {
    errors.insert(errors.begin(), vm_error::kValidation);
    return api_error(500, kAction, errors);
  }
  errors = boot_errors(config_, context_);
  if (!errors.empty()) return api_error(500, kAction, errors);
  // After a vm.shutdown the console devices are made again.
  if (auto error = open_console_locked()) {
    return api_error(500, kAction, {"Error creating console devices", *error});
  }
  try {
    start_guest_locked(nullptr);
  } catch (const std::exception &e) {
    stop_guest_locked();
    return api_error(500, kAction, {e.what()});
  }
  state_ = State::kRunning;
  emit("vm", "booted");
  return kNoContent;
}

ApiResponse Vmm::pause() {
  static const char *kAction = "The VM could not be paused";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (!has_vm_locked()) return api_error(500, kAction, {vm_error::kNotRunning});
  if (state_ == State::kPaused) {
    return api_error(500, kAction, invalid_transition(true, "Paused", "Paused"));
  }
  emit("vm", "pausing");
  guest_->set_paused(true);
  state_ = State::kPaused;
  emit("vm", "paused");
  return kNoContent;
}

ApiResponse Vmm::resume() {
  static const char *kAction = "The VM could not resume";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (!has_vm_locked()) return api_error(500, kAction, {vm_error::kNotRunning});
  if (state_ == State::kRunning) {
    return api_error(500, kAction, invalid_transition(false, "Running", "Running"));
  }
  emit("vm", "resuming");
  guest_->set_paused(false);
  state_ = State::kRunning;
  emit("vm", "resumed");
  return kNoContent;
}

ApiResponse Vmm::shutdown() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_ || !has_vm_locked()) {
    return api_error(500, "The VM could not shutdown", {vm_error::kNotRunning});
  }
  stop_guest_locked();
  state_ = State::kCreated;  // the VM is gone, its config stays
  emit("vm", "shutdown");
  return kNoContent;
}

ApiResponse Vmm::reboot() {
  std::lock_guard<std::mutex> lock(mutex_);
  emit("vm", "rebooting");
  if (migrating_ || !has_vm_locked()) {
    return api_error(404, "The VM could not reboot", {vm_error::kNotCreated});
  }
  // The VM is shut down and built again from its config: it runs, even if it was paused.
  guest_->reboot();
  guest_->set_paused(false);
  state_ = State::kRunning;
  emit("vm", "rebooted");
  return kNoContent;
}

ApiResponse Vmm::power_button() {
  static const char *kAction = "Error triggering power button";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (!has_vm_locked()) return api_error(500, kAction, {vm_error::kNotRunning});
  guest_->power_button();
  return kNoContent;
}

ApiResponse Vmm::remove() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return kNoContent;
  if (migrating_) return api_error(500, "The VM could not be deleted", {vm_error::kMigrating});
  if (has_vm_locked()) {
    stop_guest_locked();
    emit("vm", "shutdown");
  }
  state_ = State::kNone;
  config_ = nullptr;
  emit("vm", "deleted");
  return kNoContent;
}

ApiResponse Vmm::vmm_shutdown() {
  ApiResponse deleted = remove();
  if (deleted.status >= 300) {
    return api_error(500, "The VMM could not shutdown", {vm_error::kMigrating});
  }
  uint64_t one = 1;
  (void)!::write(abort_fd_, &one, sizeof one);
  emit("vmm", "shutdown");
  exit_();
  return {200, ""};
}

}  // namespace hal::ch_emulator
