// vm_controller.cc - one VM of the cloud-hypervisor backend (see vm_controller.h).
#include "backends/cloud-hypervisor/vm_controller.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <optional>
#include <thread>

#include "backends/cloud-hypervisor/vm_config.h"
#include "backends/cloud-hypervisor/vmm_argv.h"
#include "backends/common/process_identity.h"
#include "backends/common/state_files.h"
#include "core/host/host_topology.h"
#include "hal/names.h"

namespace hal::cloud_hypervisor {
namespace fs = std::filesystem;
using backend_common::ExitInfo;
using backend_common::read_tail;
using backend_common::SupervisedProcess;
using hal::plugin::Failure;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {
constexpr auto kQuitGrace = 2s;
constexpr size_t kLogTail = 600;
}  // namespace

VmController::VmController(std::shared_ptr<const BackendSettings> settings, VmSpec spec)
    : VmControllerBase(std::move(settings), std::move(spec)) {}

VmController::~VmController() {
  detach();
}

void VmController::cancel_relays_locked() {
  if (relay_) relay_->cancel();
  if (tls_relay_) tls_relay_->cancel();
}

void VmController::detach() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    detached_ = true;
    if (role_ == Role::kTarget) cancel_relays_locked();
  }
  join_migration();
  std::unique_ptr<SupervisedProcess> process;
  std::unique_ptr<EventMonitorReader> reader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    process.swap(process_);
    reader.swap(reader_);
  }
}

// ---- process ---------------------------------------------------------------------------------

void VmController::launch() {
  const VmStateDir d = dir();
  d.create();
  std::error_code ec;
  // The VMM binds its serial socket without removing a leftover (a crashed VMM leaves one): the
  // next start would fail with "Address in use".
  for (const fs::path &p : {d.api_socket(), d.event_file(), d.serial_socket()}) fs::remove(p, ec);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    expect_exit_ = false;
    guest_shutdown_ = false;
    reader_ = std::make_unique<EventMonitorReader>(d.event_file(), 0,
                                                   [this](const ChEvent &e) { on_event(e); });
  }
  std::unique_ptr<SupervisedProcess> process;
  try {
    process = SupervisedProcess::spawn(
        vmm_argv(settings_->binary, d, settings_->verbose), d.stderr_log(), d.pidfile(),
        [this](const ExitInfo &info) { on_exit(info); }, d.dir());
  } catch (const std::exception &e) {
    throw Failure(HAL_UNAVAILABLE, std::string("cannot start cloud-hypervisor: ") + e.what());
  }
  SupervisedProcess *raw = process.get();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    process_ = std::move(process);
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  if (api().ping_until_served(
          [&] { return raw->exited() || std::chrono::steady_clock::now() > deadline; }))
    return;
  if (raw->exited()) {
    throw Failure(HAL_UNAVAILABLE, "cloud-hypervisor " + raw->exit_info().describe() +
                                       " during startup: " + read_tail(d.stderr_log(), kLogTail));
  }
  throw Failure(HAL_UNAVAILABLE, "cloud-hypervisor did not serve its API within 30 s: " +
                                     read_tail(d.stderr_log(), kLogTail));
}

void VmController::kill_vmm(std::chrono::milliseconds grace) {
  SupervisedProcess *process;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!process_) return;
    process = process_.get();
    expect_exit_ = true;
  }
  if (grace > 0ms && !process->exited()) {
    try {
      api().vmm_shutdown();
    } catch (const std::exception &) {
    }
  }
  process->kill_after(grace);
}

void VmController::release_run() {
  std::unique_ptr<SupervisedProcess> process;
  std::unique_ptr<EventMonitorReader> reader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    process.swap(process_);
    reader.swap(reader_);
  }
}

void VmController::on_event(const ChEvent &event) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (detached_) return;
  if (event.source == "guest" && event.event == "panic") {
    // The pvpanic device (pvpanic: true in the VmConfig); "crash_loaded" is a kdump kernel
    // taking over, not a crash to report.
    auto what = event.properties.find("event");
    if ((what == event.properties.end() || what->second == "panic") &&
        (state_ == HAL_VM_STATE_RUNNING || state_ == HAL_VM_STATE_PAUSED)) {
      set_state_locked(HAL_VM_STATE_CRASHED, "guest panicked");
      emit_locked(HAL_EVENT_GUEST_CRASHED, {{"reason", "guest kernel panic (pvpanic)"}});
    }
    return;
  }
  if (event.source != "vm") return;
  if (event.event == "rebooted") {
    emit_locked(HAL_EVENT_GUEST_REBOOTED, {{"reason", "reboot"}});
  } else if (event.event == "paused" && role_ == Role::kSource && migration_active_) {
    send_events_.paused_ns = event.since_start_ns;  // stop-and-copy begins
    send_events_.paused_at = std::chrono::steady_clock::now();
  } else if ((event.event == "migration-finished" || event.event == "migration-failed") &&
             role_ == Role::kSource && migration_active_) {
    send_events_.outcome = event.event == "migration-finished" ? 1 : -1;
    send_events_.outcome_ns = event.since_start_ns;
    cv_.notify_all();
  } else if (event.event == "shutdown" && !expect_exit_) {
    guest_shutdown_ = true;
    if (state_ == HAL_VM_STATE_RUNNING || state_ == HAL_VM_STATE_PAUSED) {
      set_state_locked(HAL_VM_STATE_SHUTTING_DOWN, "guest powered off");
    }
  }
}

void VmController::remove_stale_serial_socket() const {
  std::error_code ec;
  fs::remove(serial_socket(), ec);
}

void VmController::on_exit(const ExitInfo &info) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (detached_) return;
  std::error_code ec;
  fs::remove(dir().pidfile(), ec);
  // A VMM that did not exit cleanly leaves its serial socket file behind.
  remove_stale_serial_socket();
  cv_.notify_all();
  const std::string how = "cloud-hypervisor " + info.describe();
  if (state_ == HAL_VM_STATE_MIGRATED || state_ == HAL_VM_STATE_STOPPED ||
      state_ == HAL_VM_STATE_CRASHED || state_ == HAL_VM_STATE_INCOMING) {
    return;  // expected, or reported by whoever is waiting on it
  }
  if (state_ == HAL_VM_STATE_STARTING || expect_exit_ || guest_shutdown_ ||
      state_ == HAL_VM_STATE_SHUTTING_DOWN) {
    set_state_locked(HAL_VM_STATE_STOPPED, expect_exit_ ? "stopped" : "guest powered off");
    return;
  }
  if (role_ == Role::kSource && migration_active_) return;  // the migration thread decides
  set_state_locked(HAL_VM_STATE_CRASHED, how);
  emit_locked(HAL_EVENT_GUEST_CRASHED,
              {{"reason", how}, {"log", read_tail(dir().stderr_log(), kLogTail)}});
}

// ---- lifecycle -------------------------------------------------------------------------------

void VmController::start(uint32_t flags) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ == HAL_VM_STATE_RUNNING) return;
    if (state_ != HAL_VM_STATE_STOPPED && state_ != HAL_VM_STATE_CRASHED) {
      refuse_locked("vm_start");
    }
  }
  if (spec_.launch_security.type == LaunchSecurityType::kTdx) {
    if (std::string missing = tdx_missing(settings_->host_root, settings_->probe);
        !missing.empty()) {
      throw Failure(HAL_UNSUPPORTED, "vm_start: " + missing);
    }
  }
  kill_vmm(0ms);
  join_migration();
  release_run();
  VmConfigOptions options;
  options.serial_socket = VmStateDir::kSerialSocket;
  options.host = discover_host_topology(settings_->host_root);
  options.default_firmware = settings_->default_firmware;
  json config = build_vm_config(spec_, options);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    role_ = Role::kNone;
    progress_ = {{"status", "none"}};
    std::error_code ec;
    fs::remove(dir().status_file(), ec);
    set_state_locked(HAL_VM_STATE_STARTING, "start");
  }
  try {
    launch();
    ChApiClient client = api();
    client.create(config);
    client.boot();
    if (flags & HAL_START_PAUSED) client.pause();
  } catch (...) {
    kill_vmm(0ms);
    release_run();
    std::lock_guard<std::mutex> lock(mutex_);
    set_state_locked(HAL_VM_STATE_STOPPED, "start failed");
    throw;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  set_state_locked((flags & HAL_START_PAUSED) ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING,
                   "started");
}

void VmController::force_stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    cancel_relays_locked();
  }
  kill_vmm(kQuitGrace);
  join_migration();
  release_run();
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
    if (state_ != HAL_VM_STATE_RUNNING || migration_active_) {
      refuse_locked("vm_pause");
    }
  }
  api().pause();
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == HAL_VM_STATE_RUNNING) set_state_locked(HAL_VM_STATE_PAUSED, "paused");
}

void VmController::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ == HAL_VM_STATE_RUNNING) return;
    if (state_ != HAL_VM_STATE_PAUSED || migration_active_) {
      refuse_locked("vm_resume");
    }
  }
  api().resume();
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == HAL_VM_STATE_PAUSED) set_state_locked(HAL_VM_STATE_RUNNING, "resumed");
}

void VmController::shutdown(uint32_t timeout_ms, uint32_t flags) {
  hal_vm_state previous;
  SupervisedProcess *process;
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
    set_state_locked(HAL_VM_STATE_SHUTTING_DOWN, "ACPI power button");
  }
  try {
    api().power_button();
  } catch (const std::exception &) {
    // The timeout (and force, unless NO_FORCE) decides.
  }
  if (process->wait_exit(std::chrono::milliseconds(timeout_ms))) {
    std::lock_guard<std::mutex> lock(mutex_);
    set_state_locked(HAL_VM_STATE_STOPPED, "guest powered off");
    return;
  }
  if (flags & HAL_SHUTDOWN_NO_FORCE) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ == HAL_VM_STATE_SHUTTING_DOWN && timeout_ms > 0) {
      set_state_locked(previous, "guest ignored shutdown");
    }
    if (timeout_ms == 0) return;
    throw Failure(HAL_DEADLINE_EXCEEDED, "vm_shutdown: guest '" + spec_.name +
                                             "' did not power off within " +
                                             std::to_string(timeout_ms) + " ms");
  }
  if (timeout_ms == 0) return;
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
  api().reboot();
}

void VmController::remove() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_STOPPED && state_ != HAL_VM_STATE_CRASHED &&
        state_ != HAL_VM_STATE_MIGRATED) {
      refuse_locked("vm_delete", "; stop it first");
    }
    cancel_relays_locked();
  }
  kill_vmm(0ms);
  join_migration();
  release_run();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    emit_locked(HAL_EVENT_VM_DELETED, {{"reason", "deleted"}});
    deleted_ = true;
    detached_ = true;
  }
  dir().remove();
}

namespace {

/** The VMM's vCPU threads (Cloud Hypervisor names them "vcpuN"): vcpu, tid and CPU affinity. */
json vcpu_threads(pid_t pid) {
  json threads = json::array();
  std::error_code ec;
  const fs::path task = "/proc/" + std::to_string(pid) + "/task";
  for (const auto &entry : fs::directory_iterator(task, ec)) {
    auto comm = backend_common::read_file(entry.path() / "comm");
    if (!comm || comm->rfind("vcpu", 0) != 0) continue;
    int vcpu = std::atoi(comm->c_str() + 4);
    pid_t tid = std::atoi(entry.path().filename().c_str());
    cpu_set_t set;
    CPU_ZERO(&set);
    json affinity = json::array();
    if (sched_getaffinity(tid, sizeof set, &set) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) affinity.push_back(c);
      }
    }
    threads.push_back({{"vcpu", vcpu}, {"tid", tid}, {"affinity", affinity}});
  }
  return threads;
}

}  // namespace

std::string VmController::info() const {
  // The vCPU threads are read without the lock: waiting for them must not hold up events.
  pid_t pid = 0;
  bool running = false;
  uint32_t vcpus = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (process_ && !process_->exited()) pid = process_->pid();
    running = state_ == HAL_VM_STATE_RUNNING;
    vcpus = spec_.cpu.vcpus;
  }
  json threads = pid > 0 ? vcpu_threads(pid) : json::array();
  // A vCPU thread names itself once it runs, which may be just after the boot call answered:
  // look again, briefly, until every boot vCPU is there.
  for (int attempt = 0; attempt < 20 && running && threads.size() < vcpus; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    threads = vcpu_threads(pid);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  json doc = {{"id", spec_.name}, {"state", hal_vm_state_name(state_)}, {"spec", to_json(spec_)}};
  const bool alive = process_ && !process_->exited();
  if (alive) doc["pid"] = process_->pid();
  if (!spec_.numa_nodes.empty()) {
    json placement = json::array();
    for (const NumaNodeSpec &node : spec_.numa_nodes) {
      placement.push_back({{"guestNode", node.id},
                           {"hostNodes", node.host_nodes},
                           {"policy", node.host_nodes.empty() ? "none" : to_string(node.policy)},
                           {"memory", node.memory_bytes}});
    }
    doc["numaPlacement"] = placement;
  }
  if (alive) {
    if (!threads.empty() && process_->pid() == pid) doc["vcpuThreads"] = threads;
    if (spec_.serial_console) {
      doc["console"] = {{"type", "unix"}, {"path", serial_socket().string()}};
    }
  }
  if (!spec_.host_devices.empty()) {
    json devices = json::array();
    for (const HostDeviceSpec &d : spec_.host_devices) {
      auto node = device_guest_node(spec_, d);
      devices.push_back({{"name", d.name},
                         {"guestNumaNode", node ? json(*node) : json(nullptr)},
                         {"hostNumaNode", d.host_numa_node ? json(*d.host_numa_node) : json()}});
    }
    doc["hostDevices"] = devices;
  }
  doc["launchSecurity"] = {
      {"type", spec_.launch_security.type == LaunchSecurityType::kTdx ? "tdx" : "none"}};
  return doc.dump();
}

std::string VmController::console() const {
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  if (!spec_.serial_console) {
    throw Failure(HAL_UNSUPPORTED, "vm_get_console: VM '" + spec_.name +
                                       "' has no serial console (spec.console.serial is false)");
  }
  if (!process_ || process_->exited() || state_ == HAL_VM_STATE_INCOMING) {
    refuse_locked("vm_get_console");
  }
  return json({{"type", "unix"}, {"path", serial_socket().string()}}).dump();
}

// ---- hotplug ---------------------------------------------------------------------------------

void VmController::attach_device(std::string_view device_json) {
  json device = json::parse(device_json, nullptr, false);
  if (device.is_discarded() || !device.is_object() || !device.contains("kind")) {
    throw Failure(HAL_INVALID_ARGUMENT, "device: a JSON object with \"kind\" is required");
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_RUNNING && state_ != HAL_VM_STATE_PAUSED) {
      refuse_locked("vm_attach_device");
    }
  }
  const std::string kind = device.value("kind", "");
  if (kind != "disk") {
    throw Failure(HAL_UNSUPPORTED, "vm_attach_device: kind '" + kind +
                                       "' (the cloud-hypervisor backend hot-plugs disks)");
  }
  if (!device.contains("name") || !device["name"].is_string() || !device.contains("path") ||
      !device["path"].is_string()) {
    throw Failure(HAL_INVALID_ARGUMENT, "vm_attach_device: a disk needs name and path");
  }
  std::error_code ec;  // the VMM runs in the state dir: a relative path is the caller's
  const fs::path path = fs::absolute(device["path"].get<std::string>(), ec);
  api().add_disk({{"id", device["name"]},
                  {"path", ec ? device["path"].get<std::string>() : path.string()},
                  {"readonly", device.value("readOnly", false)}});
  std::lock_guard<std::mutex> lock(mutex_);
  emit_locked(HAL_EVENT_DEVICE_CHANGED, {{"attached", device["name"]}});
}

void VmController::detach_device(std::string_view name) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_RUNNING && state_ != HAL_VM_STATE_PAUSED) {
      refuse_locked("vm_detach_device");
    }
  }
  api().remove_device(std::string(name));
  std::lock_guard<std::mutex> lock(mutex_);
  emit_locked(HAL_EVENT_DEVICE_CHANGED, {{"detached", std::string(name)}});
}

// ---- re-adoption -----------------------------------------------------------------------------

void VmController::restore_from_disk() {
  const VmStateDir d = dir();
  if (auto status = backend_common::read_file(d.status_file())) {
    json doc = json::parse(*status, nullptr, false);
    if (!doc.is_discarded() && doc.value("state", "") == "Migrated") {
      std::lock_guard<std::mutex> lock(mutex_);
      state_ = HAL_VM_STATE_MIGRATED;
      return;
    }
  }
  const backend_common::FoundProcess found =
      backend_common::find_process(d, settings_->binary, d.api_socket().string());
  if (found.kind == backend_common::FoundProcess::Kind::kNone) return;  // STOPPED
  if (found.kind == backend_common::FoundProcess::Kind::kGone) {
    std::lock_guard<std::mutex> lock(mutex_);
    crashed_while_unwatched_locked("cloud-hypervisor", found.pid, "log",
                                   read_tail(d.stderr_log(), kLogTail));
    remove_stale_serial_socket();
    return;
  }
  hal_vm_state adopted = HAL_VM_STATE_STOPPED;
  try {
    std::string vm_state = api().info().value("state", "");
    if (vm_state == "Running") adopted = HAL_VM_STATE_RUNNING;
    if (vm_state == "Paused") adopted = HAL_VM_STATE_PAUSED;
  } catch (const Failure &f) {
    adopted = f.status == HAL_NOT_FOUND ? HAL_VM_STATE_STOPPED : HAL_VM_STATE_UNKNOWN;
  }
  std::error_code ec;
  const uint64_t offset = fs::file_size(d.event_file(), ec);
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = adopted;
  try {
    process_ = SupervisedProcess::adopt(found.pid, [this](const ExitInfo &info) { on_exit(info); });
  } catch (const std::exception &) {
    state_ = HAL_VM_STATE_CRASHED;
    return;
  }
  reader_ = std::make_unique<EventMonitorReader>(d.event_file(), ec ? 0 : offset,
                                                 [this](const ChEvent &e) { on_event(e); });
}

// ---- migration -------------------------------------------------------------------------------

void VmController::join_migration() {
  if (migration_thread_.joinable() && migration_thread_.get_id() != std::this_thread::get_id()) {
    migration_thread_.join();
  }
}

void VmController::migration_send(std::string_view params_json) {
  MigrationParams params = parse_migration_params(params_json, spec_.migration);
  if (params.uri.empty()) throw Failure(HAL_INVALID_ARGUMENT, "params.uri: required");
  json body = send_migration_body(params, "unix:" + dir().migration_out_socket().string(),
                                  settings_->probe.release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (spec_.launch_security.type == LaunchSecurityType::kTdx) {
      throw Failure(HAL_UNSUPPORTED, "migration_send: VM '" + spec_.name +
                                         "' is a TDX guest; TDX VMs cannot be live-migrated");
    }
    if ((state_ != HAL_VM_STATE_RUNNING && state_ != HAL_VM_STATE_PAUSED) || migration_active_) {
      refuse_locked("migration_send", migration_active_ ? " and migrating" : "");
    }
  }
  join_migration();
  std::shared_ptr<MigrationRelay> relay;
  std::shared_ptr<backend_common::TlsRelay> tls;
  try {
    // With TLS: VMM -> relay (progress, bandwidth, cancel) -> TLS relay -> the target.
    if (params.tls) {
      tls = std::make_shared<backend_common::TlsRelay>(backend_common::TlsRelay::Role::kSource,
                                                       *params.tls, "unix:", params.uri);
    }
    relay = std::make_shared<MigrationRelay>("unix:" + dir().migration_out_socket().string(),
                                             tls ? tls->listen_url() : params.uri,
                                             params.bandwidth_mibps);
  } catch (const Failure &) {
    throw;
  } catch (const std::exception &e) {
    throw Failure(HAL_UNAVAILABLE, std::string("migration_send: ") + e.what());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  role_ = Role::kSource;
  migration_active_ = true;
  relay_ = relay;
  tls_relay_ = tls;
  send_events_ = {};
  progress_ = {{"status", "setup"},
               {"transferredBytes", 0},
               {"totalBytes", memory_bytes()},
               {"remainingBytes", memory_bytes()}};
  migration_thread_ =
      std::thread([this, params, body = std::move(body)] { run_send(params, body); });
}

void VmController::run_send(const MigrationParams &params, const json &body) {
  // Before v53.0 the reply comes when the migration is over; from v53.0 on, when it starts.
  const ChVersion release = settings_->probe.release;
  const auto timeout = send_migration_is_async(release) ? std::chrono::milliseconds(60s)
                       : params.timeout_ms > 0 ? std::chrono::milliseconds(params.timeout_ms) + 30s
                                               : std::chrono::milliseconds(24h);
  ChApiClient client = api();
  std::future<HttpReply> reply =
      std::async(std::launch::async, [client, text = body.dump(), timeout] {
        return client.call("PUT", "vm.send-migration", text, timeout);
      });
  SendDecision decision;
  const SendSignals signals = await_send_outcome(reply, decision, [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    if (detached_ || !relay_) return;
    update_send_progress_locked("active", params);
    emit_locked(HAL_EVENT_MIGRATION_PROGRESS, progress_);
  });
  finish_send(params, signals, decision);
}

SendSignals VmController::await_send_outcome(std::future<HttpReply> &reply, SendDecision &decision,
                                             const std::function<void()> &tick) {
  const ChVersion release = settings_->probe.release;
  SendSignals signals;
  for (;;) {
    if (signals.reply_status == 0 && reply.wait_for(0ms) == std::future_status::ready) {
      try {
        HttpReply r = reply.get();
        signals.reply_status = r.status;
        if (!r.ok()) {
          signals.reply_error = "cloud-hypervisor vm.send-migration: HTTP " +
                                std::to_string(r.status) + ": " + api_error_message(r.body);
        }
      } catch (const std::exception &e) {
        signals.reply_status = -1;
        signals.reply_error = e.what();
      }
    }
    // The process and the reader stay while this thread runs: whoever releases them joins it.
    SupervisedProcess *process;
    EventMonitorReader *reader;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      process = process_.get();
      reader = reader_.get();
    }
    if (!signals.exited && (process == nullptr || process->exited())) {
      // Its last events may have been written just before it exited: read them first.
      if (reader != nullptr) reader->sync(2s);
      const ExitInfo info = process != nullptr ? process->exit_info() : ExitInfo{};
      signals.exited = true;
      signals.exited_cleanly =
          info.status_known && WIFEXITED(info.wait_status) && WEXITSTATUS(info.wait_status) == 0;
      signals.exit_how = info.describe();
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      signals.event = send_events_.outcome;
      decision = decide_send(release, signals);
      if (decision.verdict != SendVerdict::kPending || detached_) return signals;
      cv_.wait_for(lock, 50ms);
    }
    tick();
  }
}

void VmController::update_send_progress_locked(const char *status, const MigrationParams &params) {
  const uint64_t sent = relay_ ? relay_->forwarded() : 0, total = memory_bytes();
  progress_["status"] = status;
  progress_["transferredBytes"] = sent;
  progress_["totalBytes"] = std::max(total, sent);
  progress_["remainingBytes"] = sent >= total ? 0 : total - sent;
  progress_["expectedDowntimeMs"] = params.max_downtime_ms;
}

void VmController::finish_send(const MigrationParams &params, const SendSignals &signals,
                               const SendDecision &decision) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::shared_ptr<MigrationRelay> relay = relay_;
  migration_active_ = false;
  if (detached_) {
    relay_.reset();
    return;  // closing: no event after detach()
  }
  update_send_progress_locked("active", params);
  if (decision.verdict == SendVerdict::kCompleted) {
    // Downtime: from the pause that starts stop-and-copy to the outcome, on the VMM's own clock
    // when both events were seen, else on ours up to now (an upper bound).
    const SendEvents &ev = send_events_;
    int64_t downtime_ms = 0;
    if (ev.paused_ns > 0 && ev.outcome > 0 && ev.outcome_ns >= ev.paused_ns) {
      downtime_ms = static_cast<int64_t>((ev.outcome_ns - ev.paused_ns) / 1'000'000);
    } else if (ev.paused_at != std::chrono::steady_clock::time_point{}) {
      downtime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - ev.paused_at)
                        .count();
    }
    progress_["status"] = "completed";
    progress_["remainingBytes"] = 0;
    progress_["downtimeMs"] = downtime_ms;
    expect_exit_ = true;  // the source VMM exits once its VM lives elsewhere
    try {
      backend_common::write_file_atomic(dir().status_file(), R"({"state":"Migrated"})");
    } catch (const std::exception &) {
    }
    set_state_locked(HAL_VM_STATE_MIGRATED, "migrated");
  } else {
    const bool cancelled = relay && relay->cancelled();
    const std::string relay_error = relay ? relay->error() : "";
    progress_["status"] = cancelled ? "cancelled" : "failed";
    std::string why = relay_error.empty() ? decision.error : relay_error + "; " + decision.error;
    if (tls_relay_ && !tls_relay_->error().empty()) why = tls_relay_->error() + "; " + why;
    progress_["error"] = cancelled ? "cancelled by migration_cancel" : why;
    if (expect_exit_) {
      // vm_force_stop or vm_delete stopped the VMM: they set the state.
    } else if (signals.exited) {
      const std::string how = "cloud-hypervisor " + signals.exit_how + " during a migration";
      set_state_locked(HAL_VM_STATE_CRASHED, how);
      emit_locked(HAL_EVENT_GUEST_CRASHED,
                  {{"reason", how}, {"log", read_tail(dir().stderr_log(), kLogTail)}});
    } else {
      // Cloud Hypervisor resumes the source on failure (unless it was paused before): ask it.
      lock.unlock();
      std::optional<hal_vm_state> now;
      try {
        now = api().info().value("state", "") == "Paused" ? HAL_VM_STATE_PAUSED
                                                          : HAL_VM_STATE_RUNNING;
      } catch (const std::exception &) {
      }
      lock.lock();
      if (now && !expect_exit_) set_state_locked(*now, "migration did not complete");
    }
  }
  relay_.reset();
  tls_relay_.reset();
  emit_locked(HAL_EVENT_MIGRATION_FINISHED, progress_);
}

std::string VmController::migration_progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  json p = progress_;
  if (migration_active_ && relay_) {
    const uint64_t sent = relay_->forwarded(), total = memory_bytes();
    p["status"] = "active";
    p["transferredBytes"] = sent;
    p["totalBytes"] = std::max(total, sent);
    p["remainingBytes"] = sent >= total ? 0 : total - sent;
  }
  return p.dump();
}

void VmController::migration_cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  check_not_deleted_locked();
  if (!migration_active_ || !relay_) {
    throw Failure(HAL_FAILED_PRECONDITION,
                  "migration_cancel: no migration of VM '" + spec_.name + "' is running");
  }
  cancel_relays_locked();
  // The target VMM may still wait for a connection that will never come: end it.
  if (role_ == Role::kTarget && process_) {
    expect_exit_ = true;
    process_->send_signal(SIGKILL);
  }
}

std::string VmController::start_incoming(const MigrationParams &params) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_deleted_locked();
    if (state_ != HAL_VM_STATE_STOPPED) {
      throw Failure(HAL_FAILED_PRECONDITION,
                    "migration target '" + spec_.name + "' is " + hal_vm_state_name(state_));
    }
    role_ = Role::kTarget;
    migration_active_ = true;
    progress_ = {{"status", "setup"}, {"transferredBytes", 0}};
    set_state_locked(HAL_VM_STATE_INCOMING, "waiting for incoming migration");
  }
  std::shared_ptr<MigrationRelay> relay;
  std::shared_ptr<backend_common::TlsRelay> tls;
  const std::string listen = params.uri.empty() ? "tcp:127.0.0.1:0" : params.uri;
  try {
    launch();
    // With TLS: the source -> TLS relay at the endpoint -> relay on a socket in the VM's
    // private dir -> the VMM.
    const std::string inner = "unix:" + dir().migration_tls_in_socket().string();
    relay = std::make_shared<MigrationRelay>(
        params.tls ? inner : listen, "unix:" + dir().migration_in_socket().string(), 0, 30000);
    if (params.tls) {
      tls = std::make_shared<backend_common::TlsRelay>(backend_common::TlsRelay::Role::kTarget,
                                                       *params.tls, listen, inner);
    }
  } catch (const std::exception &e) {
    kill_vmm(0ms);
    release_run();
    std::lock_guard<std::mutex> lock(mutex_);
    migration_active_ = false;
    set_state_locked(HAL_VM_STATE_STOPPED, "incoming migration failed");
    if (dynamic_cast<const Failure *>(&e) != nullptr) throw;
    throw Failure(HAL_UNAVAILABLE, std::string("migration_prepare_incoming: ") + e.what());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  relay_ = relay;
  tls_relay_ = tls;
  migration_thread_ = std::thread([this] { run_receive(); });
  return json({{"uri", tls ? tls->listen_url() : relay->listen_url()}}).dump();
}

void VmController::run_receive() {
  std::shared_ptr<MigrationRelay> relay;
  std::shared_ptr<backend_common::TlsRelay> tls;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    relay = relay_;
    tls = tls_relay_;
  }
  std::string error;
  try {
    api().receive_migration({{"receiver_url", "unix:" + dir().migration_in_socket().string()}},
                            std::chrono::hours(24));
  } catch (const std::exception &e) {
    error = e.what();
  }
  // The VMM's last answers may still be crossing the TLS relay.
  if (tls && error.empty()) tls->wait_finished(5s);
  if (tls && !error.empty() && !tls->error().empty()) error = tls->error() + "; " + error;
  // The VMM answers once it runs the VM; its acknowledgement to the source may still be in the
  // relay: let the relay end by itself before dropping it, or the source fails a migration that
  // succeeded here.
  if (error.empty()) relay->wait_finished(10s);
  std::unique_lock<std::mutex> lock(mutex_);
  migration_active_ = false;
  progress_["transferredBytes"] = relay->forwarded();
  progress_["totalBytes"] = relay->forwarded();
  progress_["remainingBytes"] = 0;
  if (error.empty()) {
    std::string st;
    lock.unlock();
    try {
      st = api().info().value("state", "");
    } catch (const std::exception &) {
    }
    lock.lock();
    progress_["status"] = "completed";
    set_state_locked(st == "Paused" ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING,
                     "incoming migration completed");
  } else {
    progress_["status"] = relay->cancelled() ? "cancelled" : "failed";
    progress_["error"] = error;
    expect_exit_ = true;
    lock.unlock();
    kill_vmm(0ms);
    lock.lock();
    set_state_locked(HAL_VM_STATE_STOPPED, "incoming migration failed");
  }
  relay_.reset();
  tls_relay_.reset();
  emit_locked(HAL_EVENT_MIGRATION_FINISHED, progress_);
}

}  // namespace hal::cloud_hypervisor
