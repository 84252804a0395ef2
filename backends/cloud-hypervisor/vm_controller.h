// vm_controller.h - one VM of the cloud-hypervisor backend: one VMM process per VM, its state
// machine (driven by our API calls, the event monitor and the process exit), the lifecycle
// operations, live migration through the relay (source and target), info, and re-adoption.
//
// Threads: operations run on the caller's thread (serialised per VM by the host, except
// state()/info()/migration_progress()); events arrive on the event-monitor reader thread, the
// process exit on the supervisor's watcher thread, migration on a migration thread. One mutex
// guards the state; events are emitted while holding it so they stay ordered.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_VM_CONTROLLER_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_VM_CONTROLLER_H

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "backends/cloud-hypervisor/capabilities.h"
#include "backends/cloud-hypervisor/event_monitor.h"
#include "backends/cloud-hypervisor/migration.h"
#include "backends/cloud-hypervisor/rest_client.h"
#include "backends/cloud-hypervisor/send_outcome.h"
#include "backends/cloud-hypervisor/vm_state_dir.h"
#include "backends/common/exit_info.h"
#include "backends/common/supervised_process.h"
#include "backends/common/tls_relay.h"
#include "backends/common/vm_controller_base.h"
#include "core/spec/vm_spec.h"
#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {

/** Settings shared by every VM of one backend instance (immutable after open). */
struct BackendSettings {
  /** Root of the per-VM state directories. */
  std::filesystem::path state_root;
  /** The VMM binary (cloud-hypervisor, or hal-ch-emulator). */
  std::string binary;
  /** Prefix for host sysfs reads. */
  std::filesystem::path host_root = "/";
  /** Firmware for firmware boot without a path. */
  std::string default_firmware;
  /** Pass -v to the VMM. */
  bool verbose = false;
  /** Probe of the binary taken at open. */
  BinaryProbe probe;
  /** Where events go. */
  hal::plugin::EventSink events;
};

/** One VM, shared by the backend's table and every handle on it. */
class VmController : public backend_common::VmControllerBase<BackendSettings, VmStateDir> {
 public:
  /** A VM in state STOPPED defined by `spec`. */
  VmController(std::shared_ptr<const BackendSettings> settings, VmSpec spec);
  /** Stops watching (never stops the VMM). */
  ~VmController();
  VmController(const VmController &) = delete;
  VmController &operator=(const VmController &) = delete;

  /** vm_start: spawn the VMM, vm.create, vm.boot (and vm.pause with HAL_START_PAUSED). */
  void start(uint32_t flags);
  /** vm_force_stop: vmm.shutdown, SIGKILL after a grace period. */
  void force_stop();
  /** vm_pause. */
  void pause();
  /** vm_resume. */
  void resume();
  /** vm_shutdown: vm.power-button, wait, force unless NO_FORCE. */
  void shutdown(uint32_t timeout_ms, uint32_t flags);
  /** vm_reboot: vm.reboot. */
  void reboot();
  /** vm_delete. */
  void remove();
  /** vm_get_info document. */
  std::string info() const;
  /** vm_get_console document. */
  std::string console() const;
  /** migration_send. */
  void migration_send(std::string_view params_json);
  /** migration_get_progress document. */
  std::string migration_progress() const;
  /** migration_cancel: cuts the relay (Cloud Hypervisor has no cancel call). */
  void migration_cancel();
  /** Target side: spawn the VMM, start vm.receive-migration, relay from the public endpoint;
   *  answers {"uri": ...}. */
  std::string start_incoming(const MigrationParams &params);
  /** vm_attach_device: {"kind":"disk"|"nic", ...spec entry}. */
  void attach_device(std::string_view device_json);
  /** vm_detach_device. */
  void detach_device(std::string_view name);
  /** At open(): re-adopt a VMM left running, from the state dir. */
  void restore_from_disk();
  /** At close(): stop watching; no event after it returns. */
  void detach();

 private:
  std::filesystem::path serial_socket() const { return dir().serial_socket(); }
  void remove_stale_serial_socket() const;
  ChApiClient api() const { return ChApiClient(dir().api_socket().string()); }
  void launch();
  void kill_vmm(std::chrono::milliseconds grace);
  void release_run();
  void on_event(const ChEvent &event);
  void on_exit(const backend_common::ExitInfo &info);
  void run_send(const MigrationParams &params, const nlohmann::json &body);
  SendSignals await_send_outcome(std::future<HttpReply> &reply, SendDecision &decision,
                                 const std::function<void()> &tick);
  void update_send_progress_locked(const char *status, const MigrationParams &params);
  void finish_send(const MigrationParams &params, const SendSignals &signals,
                   const SendDecision &decision);
  void run_receive();
  void join_migration();
  uint64_t memory_bytes() const { return spec_.memory.size_bytes; }

  std::unique_ptr<backend_common::SupervisedProcess> process_;
  std::unique_ptr<EventMonitorReader> reader_;
  bool expect_exit_ = false;
  bool guest_shutdown_ = false;
  // Migration.
  enum class Role { kNone, kSource, kTarget };
  Role role_ = Role::kNone;
  bool migration_active_ = false;
  std::shared_ptr<MigrationRelay> relay_;
  std::shared_ptr<backend_common::TlsRelay> tls_relay_;  // with migration-params tls
  /** Cuts the migration's connections (both relays). */
  void cancel_relays_locked();
  // What the source VMM's event stream said about the outgoing migration (under mutex_).
  struct SendEvents {
    int outcome = 0;          // +1 vm/migration-finished, -1 vm/migration-failed
    uint64_t outcome_ns = 0;  // its timestamp (VMM clock)
    uint64_t paused_ns = 0;   // vm/paused: stop-and-copy began (VMM clock)
    std::chrono::steady_clock::time_point paused_at{};  // the same on the host's clock
  };
  SendEvents send_events_;
  nlohmann::json progress_ = {{"status", "none"}};
  std::thread migration_thread_;
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_VM_CONTROLLER_H
