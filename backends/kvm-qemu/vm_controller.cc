// vm_controller.cc - per-VM lifecycle, QMP event state machine, migration and re-adoption.
#include "backends/kvm-qemu/vm_controller.h"

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "backends/common/process_identity.h"
#include "backends/common/state_files.h"
#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/qemu_probe.h"
#include "hal/names.h"

namespace hal::kvm_qemu {
namespace fs = std::filesystem;
using backend_common::ExitInfo;
using backend_common::read_tail;
using backend_common::SupervisedProcess;
using hal::plugin::Failure;
using namespace std::chrono_literals;

namespace {

// How long QEMU may take from spawn to a connectable QMP socket.
constexpr auto kStartupTimeout = 30s;
// Grace period between `quit` and SIGKILL.
constexpr auto kQuitGrace = 3s;
// Bytes of QEMU's stderr quoted in error messages.
constexpr size_t kStderrTail = 600;

// Maps a QEMU RunState (query-status "status") to a HAL state.
hal_vm_state state_from_run_state(const std::string &status) {
  if (status == "running") return HAL_VM_STATE_RUNNING;
  if (status == "inmigrate") return HAL_VM_STATE_INCOMING;
  if (status == "postmigrate" || status == "finish-migrate") return HAL_VM_STATE_MIGRATED;
  if (status == "shutdown") return HAL_VM_STATE_SHUTTING_DOWN;
  if (status == "guest-panicked" || status == "internal-error") return HAL_VM_STATE_CRASHED;
  return HAL_VM_STATE_PAUSED;  // paused, prelaunch, suspended, debug, io-error, ...
}

// Failure from a QMP exception with a status chosen by its kind.
Failure qmp_failure(const std::string &what, const std::exception &e) {
  if (dynamic_cast<const QmpCommandError *>(&e) != nullptr) {
    return Failure(HAL_FAILED_PRECONDITION, what + ": QEMU refused: " + e.what());
  }
  return Failure(HAL_UNAVAILABLE, what + ": QEMU unreachable: " + e.what());
}

}  // namespace

VmController::VmController(std::shared_ptr<const BackendSettings> settings, VmSpec spec)
    : VmControllerBase(std::move(settings), std::move(spec)) {}

VmController::~VmController() {
  detach();
}

// ---- small helpers ---------------------------------------------------------------------------

std::shared_ptr<QmpClient> VmController::qmp_or_throw() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!qmp_ || !qmp_->connected()) {
    throw Failure(HAL_UNAVAILABLE, "VM '" + spec_.name + "': no QMP connection to QEMU");
  }
  return qmp_;
}

std::string VmController::tdx_missing_reason() const {
  QemuFeatures qemu = probe_qemu(settings_->qemu_binary, settings_->state_root);
  return tdx_missing(settings_->host_root, settings_->accelerator, qemu);
}

// Drops the previous run's QMP client and process watcher (outside the mutex: both join threads
// whose callbacks take it).
void VmController::release_run() {
  std::unique_ptr<SupervisedProcess> process;
  std::shared_ptr<QmpClient> qmp;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    process = std::move(process_);
    qmp = std::move(qmp_);
    vcpu_threads_.clear();
  }
  if (qmp) qmp->close();
  qmp.reset();
  process.reset();
}

void VmController::join_migration_thread() {
  std::lock_guard<std::mutex> lock(migration_thread_mutex_);
  if (migration_thread_.joinable()) migration_thread_.join();
}

// ---- launching -------------------------------------------------------------------------------

void VmController::connect_qmp(SupervisedProcess *process) {
  const VmStateDir d = dir();
  switch (process->wait_for_path(d.qmp_socket(), kStartupTimeout)) {
    case backend_common::PathWait::kAppeared:
      break;
    case backend_common::PathWait::kExited:
      throw Failure(HAL_UNAVAILABLE,
                    "QEMU " + process->exit_info().describe() +
                        " during startup: " + read_tail(d.stderr_log(), kStderrTail));
    case backend_common::PathWait::kTimedOut:
      throw Failure(HAL_UNAVAILABLE, "QEMU did not create its QMP socket within 30 s: " +
                                         read_tail(d.stderr_log(), kStderrTail));
  }
  std::shared_ptr<QmpClient> qmp;
  try {
    QmpClient::Options options;
    options.connect_timeout = 10s;
    qmp = QmpClient::connect(d.qmp_socket().string(), options);
  } catch (const std::exception &e) {
    throw Failure(HAL_UNAVAILABLE, std::string("cannot connect to QMP: ") + e.what() + ": " +
                                       read_tail(d.stderr_log(), kStderrTail));
  }
  ::chmod(d.qmp_socket().c_str(), 0600);
  ::chmod(d.console_socket().c_str(), 0600);
  ::chmod(d.console_log().c_str(), 0600);
  qmp->subscribe("", [this](const QmpEvent &event) { on_event(event); });
  std::vector<VcpuThread> threads = parse_cpus_fast(qmp->execute("query-cpus-fast", nullptr, 10s));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    qmp_ = qmp;
    vcpu_threads_ = threads;
  }
}

void VmController::launch(bool incoming) {
  const VmStateDir d = dir();
  d.create();
  std::error_code ec;
  fs::remove(d.qmp_socket(), ec);
  fs::remove(d.console_socket(), ec);
  LaunchOptions options;
  options.binary = settings_->qemu_binary;
  options.accelerator = settings_->accelerator;
  options.qmp_socket = d.qmp_socket().string();
  options.console_socket = d.console_socket().string();
  options.console_log = d.console_log().string();
  options.paused = !incoming;
  options.incoming = incoming;
  options.run_as = settings_->run_as;
  options.run_with_option =
      !options.run_as.empty() &&
      qemu_at_least(probe_qemu(settings_->qemu_binary, settings_->state_root).version, 9, 1);
  // The host's NUMA nodes and PCI devices: checks the spec's host references again (the host may
  // have changed since vm_create) and places host devices (see guest_node_for_device).
  options.host = discover_host_topology(settings_->host_root);
  std::vector<std::string> argv = build_qemu_argv(spec_, options);
  std::error_code size_ec;
  const std::uintmax_t console_log_size = fs::file_size(d.console_log(), size_ec);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    expect_exit_ = false;
    shutdown_requested_ = false;
    guest_shutdown_ = false;
    console_log_start_ = size_ec ? 0 : console_log_size;
  }
  std::unique_ptr<SupervisedProcess> process;
  try {
    process = SupervisedProcess::spawn(argv, d.stderr_log(), d.pidfile(),
                                       [this](const ExitInfo &info) { on_exit(info); });
  } catch (const std::exception &e) {
    throw Failure(HAL_UNAVAILABLE, std::string("cannot start QEMU: ") + e.what());
  }
  SupervisedProcess *raw = process.get();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    process_ = std::move(process);
  }
  try {
    connect_qmp(raw);
    std::vector<VcpuThread> threads;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads = vcpu_threads_;
    }
    apply_pinning(spec_.cpu.pinning, threads);
  } catch (const Failure &) {
    abort_launch();
    throw;
  } catch (const std::exception &e) {
    abort_launch();
    throw Failure(HAL_UNAVAILABLE, std::string("starting QEMU: ") + e.what());
  }
}

void VmController::abort_launch() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    expect_exit_ = true;
  }
  stop_process(0ms);
  release_run();
}

// Asks QEMU to quit (when `grace` > 0), SIGKILLs it after `grace`, waits for the exit.
void VmController::stop_process(std::chrono::milliseconds grace) {
  SupervisedProcess *process = nullptr;
  std::shared_ptr<QmpClient> qmp;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!process_) return;
    process = process_.get();
    qmp = qmp_;
    expect_exit_ = true;
  }
  if (grace > 0ms && qmp && qmp->connected() && !process->exited()) {
    try {
      qmp->execute("quit", nullptr, 1s);
    } catch (const std::exception &) {
    }
  }
  process->kill_after(grace);
}

// ---- lifecycle -------------------------------------------------------------------------------

void VmController::start(uint32_t flags) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    switch (state_) {
      case HAL_VM_STATE_RUNNING:
        return;
      case HAL_VM_STATE_STOPPED:
      case HAL_VM_STATE_CRASHED:
        break;
      default:
        refuse_locked("vm_start");
    }
  }
  if (spec_.launch_security.type == LaunchSecurityType::kTdx) {
    if (std::string missing = tdx_missing_reason(); !missing.empty()) {
      throw Failure(HAL_UNSUPPORTED, missing);
    }
  }
  // A crashed VM may still have a (paused, panicked) QEMU: stop it first.
  stop_process(0ms);
  join_migration_thread();
  release_run();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    role_ = Role::kNone;
    migration_active_ = false;
    progress_ = {{"status", "none"}};
    std::error_code ec;
    fs::remove(dir().status_file(), ec);
    set_state_locked(HAL_VM_STATE_STARTING, "start");
  }
  try {
    launch(false);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    set_state_locked(HAL_VM_STATE_STOPPED, "start failed");
    throw;
  }
  if (flags & HAL_START_PAUSED) {
    std::lock_guard<std::mutex> lock(mutex_);
    set_state_locked(HAL_VM_STATE_PAUSED, "started paused");
    return;
  }
  try {
    run_state_command("cont", "vm_start: cont");
  } catch (...) {
    abort_launch();
    throw;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == HAL_VM_STATE_STARTING) set_state_locked(HAL_VM_STATE_RUNNING, "started");
}

void VmController::run_state_command(const char *command, const char *what) {
  const bool stop = std::string_view(command) == "stop";
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    seen = stop ? stop_events_ : resume_events_;
  }
  try {
    qmp_or_throw()->execute(command, nullptr, 10s);
  } catch (const Failure &) {
    throw;
  } catch (const std::exception &e) {
    throw qmp_failure(what, e);
  }
  // No event comes when the vCPUs already were as asked; then the wait just times out.
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, 1s,
               [&] { return detached_ || (stop ? stop_events_ : resume_events_) > seen; });
}

void VmController::force_stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
  }
  stop_process(kQuitGrace);
  join_migration_thread();
  std::lock_guard<std::mutex> lock(mutex_);
  migration_active_ = false;
  if (state_ != HAL_VM_STATE_STOPPED && state_ != HAL_VM_STATE_MIGRATED) {
    set_state_locked(HAL_VM_STATE_STOPPED, "force stop");
  }
}

void VmController::pause() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ == HAL_VM_STATE_PAUSED) return;
    if (state_ != HAL_VM_STATE_RUNNING) {
      refuse_locked("vm_pause");
    }
  }
  run_state_command("stop", "vm_pause");
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == HAL_VM_STATE_RUNNING) set_state_locked(HAL_VM_STATE_PAUSED, "paused");
}

void VmController::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ == HAL_VM_STATE_RUNNING) return;
    if (state_ != HAL_VM_STATE_PAUSED) {
      refuse_locked("vm_resume");
    }
  }
  run_state_command("cont", "vm_resume");
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == HAL_VM_STATE_PAUSED) set_state_locked(HAL_VM_STATE_RUNNING, "resumed");
}

void VmController::shutdown(uint32_t timeout_ms, uint32_t flags) {
  hal_vm_state previous;
  SupervisedProcess *process = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ == HAL_VM_STATE_STOPPED) return;
    if (state_ != HAL_VM_STATE_RUNNING && state_ != HAL_VM_STATE_PAUSED &&
        state_ != HAL_VM_STATE_SHUTTING_DOWN) {
      refuse_locked("vm_shutdown");
    }
    previous = state_ == HAL_VM_STATE_SHUTTING_DOWN ? HAL_VM_STATE_RUNNING : state_;
    process = process_.get();
    if (process == nullptr) {
      set_state_locked(HAL_VM_STATE_STOPPED, "shutdown");
      return;
    }
    shutdown_requested_ = true;
    set_state_locked(HAL_VM_STATE_SHUTTING_DOWN, "ACPI power button");
  }
  try {
    qmp_or_throw()->execute("system_powerdown", nullptr, 10s);
  } catch (const std::exception &) {
    // Fall through: the timeout (and force, unless NO_FORCE) decides.
  }
  if (process->wait_exit(std::chrono::milliseconds(timeout_ms))) return;
  if (flags & HAL_SHUTDOWN_NO_FORCE) {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_requested_ = false;
    if (state_ == HAL_VM_STATE_SHUTTING_DOWN) set_state_locked(previous, "guest ignored shutdown");
    throw Failure(HAL_DEADLINE_EXCEEDED, "vm_shutdown: guest '" + spec_.name +
                                             "' did not power off within " +
                                             std::to_string(timeout_ms) + " ms");
  }
  force_stop();
}

void VmController::reboot() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_RUNNING) {
      refuse_locked("vm_reboot");
    }
  }
  nlohmann::json keys = nlohmann::json::array();
  for (const char *key : {"ctrl", "alt", "delete"})
    keys.push_back({{"type", "qcode"}, {"data", key}});
  try {
    qmp_or_throw()->execute("send-key", {{"keys", keys}}, 10s);
  } catch (const Failure &) {
    throw;
  } catch (const std::exception &e) {
    throw qmp_failure("vm_reboot", e);
  }
}

void VmController::reset() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_RUNNING && state_ != HAL_VM_STATE_PAUSED) {
      refuse_locked("vm_reset");
    }
  }
  try {
    qmp_or_throw()->execute("system_reset", nullptr, 10s);
  } catch (const Failure &) {
    throw;
  } catch (const std::exception &e) {
    throw qmp_failure("vm_reset", e);
  }
}

void VmController::remove() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_STOPPED && state_ != HAL_VM_STATE_CRASHED &&
        state_ != HAL_VM_STATE_MIGRATED) {
      refuse_locked("vm_delete", "; stop it first");
    }
  }
  stop_process(0ms);
  join_migration_thread();
  release_run();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    emit_locked(HAL_EVENT_VM_DELETED, {{"reason", "deleted"}});
    deleted_ = true;
    detached_ = true;  // no more events for a deleted VM
  }
  dir().remove();
}

std::string VmController::info() const {
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  nlohmann::json doc = {
      {"id", spec_.name}, {"state", hal_vm_state_name(state_)}, {"spec", to_json(spec_)}};
  const bool alive = process_ && !process_->exited();
  if (alive) doc["pid"] = process_->pid();
  if (!spec_.numa_nodes.empty()) {
    nlohmann::json placement = nlohmann::json::array();
    for (const NumaNodeSpec &node : spec_.numa_nodes) {
      placement.push_back({{"guestNode", node.id},
                           {"hostNodes", node.host_nodes},
                           {"policy", node.host_nodes.empty() ? "none" : to_string(node.policy)},
                           {"memory", node.memory_bytes}});
    }
    doc["numaPlacement"] = placement;
  }
  if (alive && !vcpu_threads_.empty()) {
    nlohmann::json threads = nlohmann::json::array();
    for (const VcpuThread &thread : vcpu_threads_) {
      threads.push_back(
          {{"vcpu", thread.vcpu}, {"tid", thread.tid}, {"affinity", read_affinity(thread.tid)}});
    }
    doc["vcpuThreads"] = threads;
  }
  if (alive && spec_.serial_console) {
    doc["console"] = {{"type", "unix"}, {"path", dir().console_socket().string()}};
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(dir().console_log(), ec);
    doc["console"]["outputBytes"] =
        !ec && size > console_log_start_ ? size - console_log_start_ : 0;
  }
  return doc.dump();
}

std::string VmController::console() const {
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  if (!spec_.serial_console) {
    throw Failure(HAL_UNSUPPORTED, "vm_get_console: VM '" + spec_.name +
                                       "' has no serial console (spec.console.serial is false)");
  }
  if (!process_ || process_->exited()) {
    refuse_locked("vm_get_console", "; no console");
  }
  return nlohmann::json({{"type", "unix"}, {"path", dir().console_socket().string()}}).dump();
}

// ---- events and exit -------------------------------------------------------------------------

void VmController::on_event(const QmpEvent &event) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (detached_) return;
  const nlohmann::json &data = event.data;
  if (event.name == "STOP") {
    ++stop_events_;
    cv_.notify_all();
    if (state_ == HAL_VM_STATE_RUNNING && !migration_active_) {
      set_state_locked(HAL_VM_STATE_PAUSED, "stopped");
    }
  } else if (event.name == "RESUME") {
    ++resume_events_;
    cv_.notify_all();
    // Not INCOMING: a migration target resumes just before QEMU reports the migration
    // completed, and turns RUNNING in on_target_completed(), with its progress "completed".
    if (state_ == HAL_VM_STATE_PAUSED || state_ == HAL_VM_STATE_STARTING ||
        state_ == HAL_VM_STATE_UNKNOWN) {
      set_state_locked(HAL_VM_STATE_RUNNING, "resumed");
    }
  } else if (event.name == "SHUTDOWN") {
    guest_shutdown_ = true;
    const bool guest = data.is_object() && data.value("guest", false);
    if (guest && (state_ == HAL_VM_STATE_RUNNING || state_ == HAL_VM_STATE_PAUSED)) {
      set_state_locked(HAL_VM_STATE_SHUTTING_DOWN, data.is_object()
                                                       ? data.value("reason", "guest shutdown")
                                                       : "guest shutdown");
    }
  } else if (event.name == "RESET") {
    nlohmann::json detail = {
        {"reason", data.is_object() ? data.value("reason", "reset") : "reset"}};
    if (data.is_object() && data.contains("guest")) detail["guest"] = data["guest"];
    emit_locked(HAL_EVENT_GUEST_REBOOTED, detail);
  } else if (event.name == "GUEST_PANICKED") {
    set_state_locked(HAL_VM_STATE_CRASHED, "guest panicked");
    nlohmann::json detail = {{"reason", "guest panicked"}};
    if (data.is_object() && data.contains("action")) detail["action"] = data["action"];
    if (data.is_object() && data.contains("info")) detail["info"] = data["info"];
    emit_locked(HAL_EVENT_GUEST_CRASHED, detail);
  } else if (event.name == "MIGRATION") {
    const std::string status =
        hal_migration_status(data.is_object() ? data.value("status", "none") : "none");
    if (role_ == Role::kTarget) {
      progress_["status"] = status;
      if (status == "completed") {
        QmpClient *qmp = qmp_.get();
        lock.unlock();
        on_target_completed(qmp);
        return;
      }
    }
    ++migration_wakeups_;
    cv_.notify_all();
  } else if (event.name == "MIGRATION_PASS") {
    ++migration_wakeups_;
    cv_.notify_all();
  }
}

// Target side: the incoming migration completed. QEMU resumes the guest itself when the source
// was running; make sure it runs (HAL: the target ends RUNNING).
void VmController::on_target_completed(QmpClient *qmp) {
  try {
    nlohmann::json status = qmp->execute("query-status", nullptr, 5s);
    if (status.value("status", "") != "running") qmp->execute("cont", nullptr, 5s);
  } catch (const std::exception &) {
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (detached_) return;
  migration_active_ = false;
  if (state_ == HAL_VM_STATE_INCOMING || state_ == HAL_VM_STATE_PAUSED) {
    set_state_locked(HAL_VM_STATE_RUNNING, "incoming migration completed");
  }
  progress_["status"] = "completed";
  emit_locked(HAL_EVENT_MIGRATION_FINISHED, progress_);
}

void VmController::on_exit(const ExitInfo &info) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (detached_) return;
  std::error_code ec;
  fs::remove(dir().pidfile(), ec);
  if (qmp_) qmp_->close();
  migration_active_ = false;
  cv_.notify_all();
  const std::string how = "QEMU " + info.describe();
  if (state_ == HAL_VM_STATE_STARTING) {
    set_state_locked(HAL_VM_STATE_STOPPED, how + " during startup");
    return;
  }
  if (state_ == HAL_VM_STATE_INCOMING) {
    progress_["status"] = "failed";
    progress_["error"] = how + " while waiting for the incoming migration: " +
                         read_tail(dir().stderr_log(), kStderrTail);
    set_state_locked(HAL_VM_STATE_STOPPED, "incoming migration failed");
    emit_locked(HAL_EVENT_MIGRATION_FINISHED, progress_);
    return;
  }
  if (state_ == HAL_VM_STATE_MIGRATED || state_ == HAL_VM_STATE_STOPPED) return;
  if (state_ == HAL_VM_STATE_CRASHED) return;  // already reported (guest panic)
  if (expect_exit_ || shutdown_requested_ || guest_shutdown_) {
    set_state_locked(HAL_VM_STATE_STOPPED, expect_exit_ ? "stopped" : "guest powered off");
    return;
  }
  const std::string tail = read_tail(dir().stderr_log(), kStderrTail);
  set_state_locked(HAL_VM_STATE_CRASHED, how);
  emit_locked(HAL_EVENT_GUEST_CRASHED, {{"reason", how}, {"stderr", tail}});
}

// ---- migration -------------------------------------------------------------------------------

std::string VmController::start_incoming(const MigrationParams &params) {
  if (spec_.launch_security.type == LaunchSecurityType::kTdx) {
    throw Failure(HAL_UNSUPPORTED, "migration_prepare_incoming: VM '" + spec_.name +
                                       "' is a TDX guest; TDX VMs cannot be live-migrated");
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_STOPPED) {
      throw Failure(HAL_FAILED_PRECONDITION, std::string("migration target '") + spec_.name +
                                                 "' is " + hal_vm_state_name(state_));
    }
    role_ = Role::kTarget;
    migration_active_ = true;
    progress_ = {{"status", "none"}};
    set_state_locked(HAL_VM_STATE_INCOMING, "waiting for incoming migration");
  }
  try {
    launch(true);
    std::shared_ptr<QmpClient> qmp = qmp_or_throw();
    prepare_migration(*qmp, params, false);
    std::string uri = params.uri.empty() ? "tcp:127.0.0.1:0" : params.uri;
    qmp->execute("migrate-incoming", {{"uri", uri}}, 10s);
    nlohmann::json reply = qmp->execute("query-migrate", nullptr, 10s);
    if (reply.contains("socket-address") && reply["socket-address"].is_array()) {
      for (const auto &address : reply["socket-address"]) {
        if (address.value("type", "") != "inet") continue;
        std::string host = address.value("host", "127.0.0.1");
        if (host.find(':') != std::string::npos) host = "[" + host + "]";
        uri = "tcp:" + host + ":" + address.value("port", "0");
        break;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      progress_ = progress_from_query_migrate(reply);
    }
    return nlohmann::json({{"uri", uri}}).dump();
  } catch (const std::exception &e) {
    abort_launch();
    std::lock_guard<std::mutex> lock(mutex_);
    migration_active_ = false;
    set_state_locked(HAL_VM_STATE_STOPPED, "incoming migration setup failed");
    if (const auto *failure = dynamic_cast<const Failure *>(&e)) throw *failure;
    throw Failure(HAL_UNAVAILABLE, std::string("migration_prepare_incoming: ") + e.what());
  }
}

void VmController::migration_send(std::string_view params_json) {
  if (spec_.launch_security.type == LaunchSecurityType::kTdx) {
    throw Failure(HAL_UNSUPPORTED, "migration_send: VM '" + spec_.name +
                                       "' is a TDX guest; TDX VMs cannot be live-migrated");
  }
  MigrationParams params = parse_migration_params(params_json, spec_.migration);
  if (params.uri.empty()) throw Failure(HAL_INVALID_ARGUMENT, "migration params.uri: required");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_RUNNING && state_ != HAL_VM_STATE_PAUSED) {
      refuse_locked("migration_send");
    }
    if (migration_active_) {
      throw Failure(HAL_FAILED_PRECONDITION,
                    "migration_send: a migration of '" + spec_.name + "' is already running");
    }
  }
  join_migration_thread();
  std::shared_ptr<QmpClient> qmp = qmp_or_throw();
  prepare_migration(*qmp, params, true);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    role_ = Role::kSource;
    migration_active_ = true;
    cancel_requested_ = false;
    progress_ = {{"status", "setup"}};
  }
  try {
    qmp->execute("migrate", {{"uri", params.uri}}, 10s);
  } catch (const std::exception &e) {
    std::lock_guard<std::mutex> lock(mutex_);
    migration_active_ = false;
    progress_ = {{"status", "failed"}, {"error", e.what()}};
    throw qmp_failure("migration_send: migrate", e);
  }
  std::lock_guard<std::mutex> lock(migration_thread_mutex_);
  migration_thread_ = std::thread([this, params] { monitor_migration(params); });
}

void VmController::prepare_migration(QmpClient &qmp, const MigrationParams &params, bool source) {
  const char *what = source ? "migration_send" : "migration_prepare_incoming";
  // QEMU runs as settings_->run_as by now and reads the files when the object is added.
  std::unique_ptr<StagedTlsDir> staged;
  if (params.tls) {
    staged = std::make_unique<StagedTlsDir>(*params.tls, source, fs::temp_directory_path(),
                                            settings_->run_as);
  }
  for (const QmpCommand &command :
       qmp_migration_setup(params, source, staged ? staged->path().string() : "")) {
    try {
      qmp.execute(command.name, command.arguments, 10s);
    } catch (const QmpCommandError &e) {
      if (command.may_fail) continue;
      if (command.name == "object-add")
        throw Failure(HAL_INVALID_ARGUMENT, std::string(what) +
                                                ": migration params.tls: QEMU refused the TLS "
                                                "material: " +
                                                e.what());
      throw Failure(HAL_UNSUPPORTED,
                    std::string(what) + ": QEMU refused the parameters: " + e.what());
    } catch (const std::exception &e) {
      throw qmp_failure(what, e);
    }
  }
}

// Source side: follows the migration with query-migrate (woken early by MIGRATION and
// MIGRATION_PASS events), emits progress, enforces the timeout, finishes it.
void VmController::monitor_migration(MigrationParams params) {
  const auto started = std::chrono::steady_clock::now();
  bool timed_out = false;
  bool postcopy_started = false;
  nlohmann::json progress;
  for (;;) {
    std::shared_ptr<QmpClient> qmp;
    uint64_t wakeups_seen;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (detached_) return;
      qmp = qmp_;
      wakeups_seen = migration_wakeups_;
    }
    try {
      if (!qmp) throw QmpConnectionError("QEMU is gone");
      progress = progress_from_query_migrate(qmp->execute("query-migrate", nullptr, 5s));
    } catch (const std::exception &e) {
      progress = {{"status", "failed"}, {"error", std::string("lost QEMU: ") + e.what()}};
    }
    const std::string status = progress.value("status", "none");
    const bool terminal = is_terminal_status(status);
    if (!terminal && params.timeout_ms > 0 && !timed_out &&
        std::chrono::steady_clock::now() - started > std::chrono::milliseconds(params.timeout_ms)) {
      timed_out = true;
      try {
        qmp->execute("migrate_cancel", nullptr, 5s);
      } catch (const std::exception &) {
      }
    }
    if (!terminal && params.post_copy && !postcopy_started && status == "active" &&
        progress.value("transferredBytes", uint64_t{0}) >=
            progress.value("totalBytes", uint64_t{1})) {
      // One full pass done: switch to post-copy so the migration is guaranteed to converge.
      postcopy_started = true;
      try {
        qmp->execute("migrate-start-postcopy", nullptr, 5s);
      } catch (const std::exception &) {
      }
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (detached_) return;
    if (timed_out && status == "cancelled") {
      progress["error"] = "migration timed out after " + std::to_string(params.timeout_ms) + " ms";
    }
    progress_ = progress;
    if (terminal) {
      migration_active_ = false;
      if (status == "completed") {
        expect_exit_ = true;
        try {
          backend_common::write_file_atomic(dir().status_file(), R"({"state":"Migrated"})");
        } catch (const std::exception &) {
        }
        set_state_locked(HAL_VM_STATE_MIGRATED, "migrated to " + params.uri);
      }
      emit_locked(HAL_EVENT_MIGRATION_FINISHED, progress_);
      cv_.notify_all();
      lock.unlock();
      if (status == "completed") stop_process(kQuitGrace);  // QEMU sits in postmigrate: quit it
      return;
    }
    emit_locked(HAL_EVENT_MIGRATION_PROGRESS, progress_);
    // Sleep until the next poll, or at once when an event arrived since the last query.
    cv_.wait_for(lock, 200ms, [&] { return detached_ || migration_wakeups_ != wakeups_seen; });
  }
}

std::string VmController::migration_progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  return progress_.dump();
}

void VmController::migration_cancel() {
  std::shared_ptr<QmpClient> qmp;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (!migration_active_ || role_ != Role::kSource) {
      throw Failure(HAL_FAILED_PRECONDITION,
                    "migration_cancel: no outgoing migration of '" + spec_.name + "' is running");
    }
    cancel_requested_ = true;
    qmp = qmp_;
  }
  try {
    if (qmp) qmp->execute("migrate_cancel", nullptr, 10s);
  } catch (const std::exception &e) {
    throw qmp_failure("migration_cancel", e);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  ++migration_wakeups_;
  cv_.notify_all();
  cv_.wait_for(lock, 30s, [this] { return !migration_active_; });
}

// ---- re-adoption -----------------------------------------------------------------------------

void VmController::restore_from_disk() {
  const VmStateDir d = dir();
  bool migrated = false;
  if (auto status = backend_common::read_file(d.status_file())) {
    migrated = status->find("Migrated") != std::string::npos;
  }
  const backend_common::FoundProcess found = backend_common::find_process(
      d, settings_->qemu_binary, escape_option_value(d.qmp_socket().string()));
  if (found.kind == backend_common::FoundProcess::Kind::kNone) {
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = migrated ? HAL_VM_STATE_MIGRATED : HAL_VM_STATE_STOPPED;
    return;
  }
  if (found.kind == backend_common::FoundProcess::Kind::kGone) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (migrated) {
      state_ = HAL_VM_STATE_MIGRATED;
      return;
    }
    crashed_while_unwatched_locked("QEMU", found.pid, "stderr",
                                   read_tail(d.stderr_log(), kStderrTail));
    return;
  }
  std::unique_ptr<SupervisedProcess> process;
  try {
    process = SupervisedProcess::adopt(found.pid, [this](const ExitInfo &info) { on_exit(info); });
  } catch (const std::exception &) {
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = HAL_VM_STATE_CRASHED;
    return;
  }
  SupervisedProcess *raw = process.get();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = HAL_VM_STATE_UNKNOWN;  // until QMP tells us
    process_ = std::move(process);
  }
  try {
    connect_qmp(raw);
    nlohmann::json status = qmp_or_throw()->execute("query-status", nullptr, 5s);
    hal_vm_state state = state_from_run_state(status.value("status", ""));
    if (migrated) state = HAL_VM_STATE_MIGRATED;
    std::lock_guard<std::mutex> lock(mutex_);
    if (state == HAL_VM_STATE_INCOMING) {
      role_ = Role::kTarget;
      migration_active_ = true;
    }
    if (state_ == HAL_VM_STATE_UNKNOWN) state_ = state;
  } catch (const std::exception &) {
    // Leave UNKNOWN: QEMU lives but its QMP socket is unusable (e.g. another client holds it).
  }
  if (migrated) stop_process(kQuitGrace);
}

void VmController::detach() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    detached_ = true;
    cv_.notify_all();
  }
  join_migration_thread();
  release_run();
}

}  // namespace hal::kvm_qemu
