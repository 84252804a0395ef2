// vm_controller.h - one VM of the kvm-qemu backend: its state machine driven by QMP events and
// QEMU process exit, the lifecycle operations, live migration (source and target), vCPU pinning,
// and re-adoption of a QEMU left running by an earlier backend instance.
//
// Threads: operations run on the caller's thread (the host serialises them per VM, except
// state()/info()/migration_progress()); QMP events arrive on the QMP client's dispatch thread,
// process exit on the supervisor's watcher thread, migration progress on a monitor thread.
// All shared state is guarded by one mutex; events are emitted while holding it (so they are
// ordered) and the host callback never calls back in. Objects that own threads (QmpClient,
// SupervisedProcess) are only destroyed on operation threads with the mutex released.
#ifndef HAL_BACKENDS_KVM_QEMU_VM_CONTROLLER_H
#define HAL_BACKENDS_KVM_QEMU_VM_CONTROLLER_H

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backends/common/exit_info.h"
#include "backends/common/supervised_process.h"
#include "backends/common/vm_controller_base.h"
#include "backends/kvm-qemu/migration.h"
#include "backends/kvm-qemu/qmp_client.h"
#include "backends/kvm-qemu/vcpu_pinning.h"
#include "backends/kvm-qemu/vm_state_dir.h"
#include "core/spec/vm_spec.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

/** Backend-wide settings every VM of one backend instance shares (immutable after open). */
struct BackendSettings {
  /** Root of the per-VM state directories. */
  std::filesystem::path state_root;
  /** QEMU binary as configured (name or path). */
  std::string qemu_binary;
  /** Accelerator in use: "kvm" or "tcg". */
  std::string accelerator;
  /** Why that accelerator (AcceleratorChoice::reason), shown in the capabilities. */
  std::string accelerator_reason;
  /** The unprivileged user QEMU switches to ("" = none; run_as.h's choose_run_as). */
  std::string run_as;
  /** Prefix for host sysfs/procfs reads (tests point it at a fake tree). */
  std::filesystem::path host_root = "/";
  /** Where events go. */
  hal::plugin::EventSink events;
};

/** One VM. Shared by the backend's table of VMs and every hal_vm handle on it. */
class VmController : public backend_common::VmControllerBase<BackendSettings, VmStateDir> {
 public:
  /** A VM in state STOPPED defined by `spec`. */
  VmController(std::shared_ptr<const BackendSettings> settings, VmSpec spec);
  /** Stops watching (never stops QEMU). */
  ~VmController();
  VmController(const VmController &) = delete;
  VmController &operator=(const VmController &) = delete;

  /** vm_start: spawn with -S, connect QMP, pin vCPUs, `cont` (unless HAL_START_PAUSED). */
  void start(uint32_t flags);
  /** migration_prepare_incoming: spawn with -incoming defer, migrate-incoming; returns
   *  {"uri": "tcp:HOST:PORT"} with the port QEMU actually listens on. */
  std::string start_incoming(const MigrationParams &params);
  /** vm_force_stop: `quit`, SIGKILL after a grace period; STOPPED. */
  void force_stop();
  /** vm_pause: `stop`. */
  void pause();
  /** vm_resume: `cont`. */
  void resume();
  /** vm_shutdown: system_powerdown, wait up to timeout_ms, then force unless NO_FORCE. */
  void shutdown(uint32_t timeout_ms, uint32_t flags);
  /** vm_reboot: Ctrl-Alt-Del through `send-key` (guest-cooperative, like the ACPI button for
   *  shutdown; the guest reboots itself and QEMU reports RESET). */
  void reboot();
  /** vm_reset: `system_reset` (hard reset button). */
  void reset();
  /** vm_delete: removes the state dir; VM must be STOPPED, CRASHED or MIGRATED. */
  void remove();
  /** vm_get_info document. */
  std::string info() const;
  /** vm_get_console document. */
  std::string console() const;
  /** migration_send. */
  void migration_send(std::string_view params_json);
  /** migration_get_progress document. */
  std::string migration_progress() const;
  /** migration_cancel. */
  void migration_cancel();

  /** At open(): decides the state from the state dir (pidfile, status file) and re-adopts a
   *  live QEMU (reconnects QMP, reads its run state and vCPU threads). Dead QEMU -> CRASHED. */
  void restore_from_disk();
  /** At close(): stops watching QEMU (threads joined, QMP closed); no event after it returns. */
  void detach();

 private:
  std::shared_ptr<QmpClient> qmp_or_throw() const;
  void launch(bool incoming);
  void connect_qmp(backend_common::SupervisedProcess *process);
  void abort_launch();
  void release_run();
  void stop_process(std::chrono::milliseconds grace);
  void on_event(const QmpEvent &event);
  void on_exit(const backend_common::ExitInfo &info);
  void on_target_completed(QmpClient *qmp);
  void monitor_migration(MigrationParams params);
  /** Runs qmp_migration_setup on `qmp` (with params.tls: from a staged copy of its files that
   *  QEMU's user can read, removed once QEMU has loaded them). Throws Failure: INVALID_ARGUMENT
   *  naming params.tls when QEMU refuses the TLS material, UNSUPPORTED when it refuses another
   *  parameter, UNAVAILABLE when it cannot be reached. */
  void prepare_migration(QmpClient &qmp, const MigrationParams &params, bool source);
  void join_migration_thread();
  /** Runs QMP `command` ("stop" or "cont"; `what` names the operation in errors) and then waits,
   *  up to a second, until the STOP or RESUME event it causes has been handled. */
  void run_state_command(const char *command, const char *what);
  std::string tdx_missing_reason() const;

  std::unique_ptr<backend_common::SupervisedProcess> process_;
  std::shared_ptr<QmpClient> qmp_;
  std::vector<VcpuThread> vcpu_threads_;
  bool expect_exit_ = false;              // we asked QEMU to go away (quit / kill)
  bool shutdown_requested_ = false;       // vm_shutdown in progress
  bool guest_shutdown_ = false;           // QEMU reported SHUTDOWN
  std::uintmax_t console_log_start_ = 0;  // console.log size when QEMU last started (it appends)
  // Migration.
  enum class Role { kNone, kSource, kTarget };
  Role role_ = Role::kNone;
  bool migration_active_ = false;
  bool cancel_requested_ = false;
  uint64_t migration_wakeups_ = 0;  // bumped by MIGRATION/MIGRATION_PASS events and cancel
  // QMP STOP and RESUME events handled so far. QEMU sends a command's STOP/RESUME before its
  // reply, but events are handled on the client's dispatch thread: `stop`/`cont` wait for theirs
  // so a late one cannot undo a later command's state (a stale STOP after the next `cont`).
  uint64_t stop_events_ = 0;
  uint64_t resume_events_ = 0;
  nlohmann::json progress_ = {{"status", "none"}};
  std::thread migration_thread_;
  std::mutex migration_thread_mutex_;
};

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_VM_CONTROLLER_H
