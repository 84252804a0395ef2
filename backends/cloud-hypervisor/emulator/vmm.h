// vmm.h - the emulated VMM behind hal-ch-emulator's API socket, behaving as the Cloud Hypervisor
// release it is told to be: request bodies checked against ch-api.schema.json, the VMM's own
// ownership model (no config; a config but no VM, which vm.info calls Created; a Running or Paused
// VM) with its status codes and error chains (api_errors.h), the config validated at boot
// (config_checks), only the events the VMM emits, a simulated guest, snapshot/restore to a
// directory, and live migration to another emulator (vmm_migration.cc).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_VMM_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_VMM_H

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "backends/cloud-hypervisor/ch_version.h"
#include "backends/cloud-hypervisor/emulator/api_errors.h"
#include "backends/cloud-hypervisor/emulator/config_checks.h"
#include "backends/cloud-hypervisor/emulator/console.h"
#include "backends/cloud-hypervisor/emulator/guest.h"

namespace hal::ch_emulator {
using cloud_hypervisor::ChVersion;

/** The one VMM of an emulator process. All methods are thread-safe. */
class Vmm {
 public:
  /** A VMM behaving as Cloud Hypervisor `release` does. `event_monitor_path` may be empty (no
   *  events). `exit` is called when the VMM must end (vmm.shutdown, guest power-off, completed
   *  outgoing migration). */
  Vmm(ChVersion release, std::string event_monitor_path, std::set<std::string> features,
      std::function<void()> exit);
  ~Vmm();

  /** Handles one request: `verb` "GET"/"PUT", `endpoint` like "vm.boot", `body` empty when the
   *  request had none. */
  ApiResponse handle(const std::string &verb, const std::string &endpoint, const std::string &body);

  /** Writes one event to the monitor file. */
  void emit(const std::string &source, const std::string &event,
            std::map<std::string, std::string> properties = {});

 private:
  // kNone: no config; kCreated: a config and no VM (also after vm.shutdown); kRunning/kPaused:
  // a VM.
  enum class State { kNone, kCreated, kRunning, kPaused };
  static const char *state_name(State state);
  bool has_vm_locked() const { return state_ == State::kRunning || state_ == State::kPaused; }

  // vmm_lifecycle.cc
  ApiResponse create(const nlohmann::json &config);
  ApiResponse boot();
  ApiResponse pause();
  ApiResponse resume();
  ApiResponse shutdown();
  ApiResponse reboot();
  ApiResponse power_button();
  ApiResponse remove();
  ApiResponse vmm_shutdown();
  std::optional<std::string> open_console_locked();
  void start_guest_locked(const GuestState *resumed);
  void stop_guest_locked();
  void on_guest_power_off();
  // vmm.cc
  ApiResponse info();
  ApiResponse counters();
  nlohmann::json info_locked() const;
  nlohmann::json normalized(nlohmann::json config) const;
  // vmm_devices.cc
  ApiResponse add_device(const std::string &kind, nlohmann::json device);
  ApiResponse remove_device(const std::string &id);
  ApiResponse snapshot(const std::string &url);
  ApiResponse restore(const nlohmann::json &request);
  // vmm_migration.cc: an outgoing migration's inputs, taken when it is requested.
  struct OutgoingMigration {
    nlohmann::json config;
    uint64_t memory = 0;
    bool was_paused = false;
    std::string destination;
    std::chrono::steady_clock::time_point deadline;
  };
  ApiResponse send_migration(const nlohmann::json &request);
  ApiResponse run_send(const OutgoingMigration &job);
  ApiResponse receive_migration(const nlohmann::json &request);

  ChVersion release_;
  std::string event_path_;
  int event_fd_ = -1;
  std::set<std::string> features_;
  std::function<void()> exit_;
  CheckContext context_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex event_mutex_;

  std::mutex mutex_;
  State state_ = State::kNone;
  nlohmann::json config_;
  std::shared_ptr<SerialPort> serial_;
  std::unique_ptr<SimulatedGuest> guest_;
  bool migrating_ = false;
  nlohmann::json info_snapshot_;  // what vm.info answers during an asynchronous migration
  std::thread migration_worker_;
  int abort_fd_ = -1;  // eventfd: aborts a waiting vm.receive-migration
  int device_counter_ = 0;
};

/** The guest memory a VmConfig gives (memory.size plus its zones). */
uint64_t memory_bytes(const nlohmann::json &config);

/** vmm.ping's build_version of the emulator for `release`: "v53.0-hal-ch-emulator" (upstream's
 *  git-describe version with a CH_EXTRA_VERSION suffix, which is how the backend knows it). */
std::string emulator_build_version(ChVersion release);

/** Validates `body` against definition `def` of ch-api.schema.json; answers the error texts. */
std::vector<std::string> schema_errors(const std::string &def, const nlohmann::json &body);

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_VMM_H
