// guest.h - the emulator's simulated guest: one thread per vCPU (named "vcpuN" like Cloud
// Hypervisor's, pinned with cpus.affinity), and a guest that prints the HAL test guest's
// "HAL-GUEST:" markers (ready, cpus, numa, pci, heartbeat) on the serial port, honours the ACPI
// power button, reboots, pauses, carries its boot id and counters across a migration, and
// panics when its kernel command line says hal.panic_after=<seconds> (a testing aid: the kernel
// stops, and a pvpanic device, when the VM has one, reports it).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_GUEST_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_GUEST_H

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/cloud-hypervisor/emulator/console.h"

namespace hal::ch_emulator {

/** What survives a migration: the boot identity and the guest's counters. */
struct GuestState {
  std::string boot_id;
  uint64_t heartbeat = 0;
  uint64_t uptime_ms = 0;
};

/** A running simulated guest. Created at vm.boot, destroyed at shutdown. Thread-safe. */
class SimulatedGuest {
 public:
  /** Called (on the guest thread) when the guest powers itself off, or panics. */
  using PowerOffFn = std::function<void()>;

  /** Boots a guest for VmConfig `config` writing to `serial` (may be null). With `resumed`
   *  the guest continues `state` (incoming migration) instead of booting afresh. `on_panic` runs
   *  when its kernel panics. Throws std::runtime_error when a vCPU cannot be pinned. */
  SimulatedGuest(const nlohmann::json &config, std::shared_ptr<SerialPort> serial,
                 PowerOffFn on_power_off, PowerOffFn on_panic, const GuestState *resumed = nullptr);
  /** Stops every guest thread. */
  ~SimulatedGuest();
  SimulatedGuest(const SimulatedGuest &) = delete;
  SimulatedGuest &operator=(const SimulatedGuest &) = delete;

  /** Freezes (true) or thaws (false) the guest: no heartbeats, uptime stops. */
  void set_paused(bool paused);
  /** ACPI power button: the guest prints "powerdown" and powers off shortly after. */
  void power_button();
  /** Reboot: a new boot id; the info block is printed again. */
  void reboot();
  /** The state to migrate. */
  GuestState state() const;

 private:
  void run();
  void print_boot_locked();
  void vcpu_loop();

  nlohmann::json config_;
  std::shared_ptr<SerialPort> serial_;
  PowerOffFn on_power_off_;
  PowerOffFn on_panic_;
  std::optional<std::chrono::milliseconds> panic_after_;  // hal.panic_after on the cmdline
  bool panicked_ = false;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool paused_ = false;
  bool power_off_pending_ = false;
  GuestState state_;
  std::chrono::steady_clock::time_point last_tick_;
  std::thread main_;
  std::vector<std::thread> vcpus_;
};

/** A fresh random boot id (16 hex digits). */
std::string new_boot_id();

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_GUEST_H
