// ref_plugin.cc - the conformance self-test's reference backend: a small, correct, in-memory HAL
// plugin written with hal/plugin.hpp (lifecycle, events, simulated guest, NUMA/pinning/device
// placement in info, in-process "loopback" migration, re-adoption by instance name). Compiled
// once as-is (it must pass every profile) and once per REF_BUG_* definition, each variant
// breaking exactly one thing the suite must catch:
//   REF_BUG_PAUSE_NOOP         vm_pause answers OK and does nothing
//   REF_BUG_NO_EVENTS          no event is ever delivered
//   REF_BUG_MIGRATION_REBOOTS  the migrated guest arrives freshly booted (bootCount reset)
//   REF_BUG_NUMA_IGNORED       the spec's NUMA layout is ignored (info shows one node)
//   REF_BUG_CAPABILITY_LIES    vm_pause is declared and in the table but answers UNSUPPORTED
//   REF_BUG_ACCEPTS_BAD_SPEC   vm_create answers OK for specs that are not valid
//   REF_BUG_UNKNOWN_FLAGS      vm_start silently ignores unknown flag bits
//   REF_BUG_EXCLUSIVE_FLAGS    vm_create lets START win over VALIDATE_ONLY, close lets STOP_VMS
//                              win over KEEP_VMS, instead of refusing either pair
//   REF_BUG_MIGRATED_FORCE_STOP  vm_force_stop of a MIGRATED VM answers FAILED_PRECONDITION
//   REF_BUG_CRASH_IN_START     vm_start dies of SIGSEGV
//   REF_BUG_HANG_IN_SHUTDOWN   vm_shutdown of a running guest never returns
//   REF_BUG_LEAKS_THREAD       every open starts a thread that runs on after close
//   REF_BUG_STALE_HANDLE       a handle resolves its VM by name at each call, so the handle of a
//                              deleted VM drives a new VM created under the same name
//   REF_BUG_NEGOTIATION        hal_plugin_negotiate accepts an ABI major it does not speak
//   REF_BUG_NULL_CRASH         vm_create dies of SIGSEGV on a NULL spec (a raw-table call)
//   REF_BUG_PAUSE_GUEST_RUNS   vm_pause reports PAUSED (state, event, frozen info) but the guest
//                              keeps running
//   REF_BUG_SHUTDOWN_FORCES    vm_shutdown stops the VM without the guest's power-off path
//   REF_BUG_REBOOT_IS_RESET    vm_reboot resets the guest without its reboot path
//   REF_BUG_RESET_KEEPS_BOOT   vm_reset reports a reboot (event, bootCount) but the guest runs on
//   REF_BUG_DOWNTIME_UNDERREPORTED  a migration stops the guest for 700 ms and reports 5 ms
//   REF_BUG_EVENT_WRONG_VM     every event names the VM created last in the instance
//   REF_BUG_DUPLICATE_EVENT    vm_shutdown reports STATE_CHANGED(Stopped) twice
//   REF_BUG_CANCEL_LEAVES_TARGET  a source cancel once bytes flowed leaves the target INCOMING
//   REF_BUG_TARGET_CANCEL_IGNORED  migration_cancel of an INCOMING target before any send answers
//                              OK and does nothing
//   REF_BUG_TARGET_CANCEL_LOSES_GUEST  a target cancelled during the transfer is taken for a
//                              completed handover: the source ends MIGRATED
//   REF_BUG_CANCEL_AFTER_COMPLETION  migration_cancel of a completed migration answers OK
//   REF_TARGET_CANCEL_REFUSED  (not a bug: what kvm-qemu does) migration_cancel of an INCOMING
//                              target answers FAILED_PRECONDITION and changes nothing
//   REF_BUG_REFUSED_CANCEL_STOPS  as REF_TARGET_CANCEL_REFUSED, but a refusal before any send has
//                              stopped the target all the same
// The simulated guest prints the test guest's HAL-GUEST markers on a console per VM
// (ref_console.h), so the suite's guest-evidence clauses see what it really did.
#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/spec/quantity.h"
#include "core/spec/vm_spec_validation.h"
#include "hal/names.h"
#include "hal/plugin.hpp"
#include "ref_console.h"

namespace ref {

using hal::plugin::EventSink;
using hal::plugin::Failure;
using nlohmann::json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/** A migration's progress (source and target share one). */
struct Job {
  std::string status = "setup";
  uint64_t total = 0, transferred = 0;
  int64_t downtime_ms = -1;
  std::string error;
  bool cancel = false;
  bool switching = false;  ///< The guest is stopped for the switchover: too late to cancel.
  json doc() const {
    json d = {{"status", status},
              {"transferredBytes", transferred},
              {"totalBytes", total},
              {"remainingBytes", total > transferred ? total - transferred : 0}};
    if (downtime_ms >= 0) d["downtimeMs"] = downtime_ms;
    if (!error.empty()) d["error"] = error;
    return d;
  }
};

struct Store;

/** One VM. Guarded by g_mu. */
struct Rec {
  std::string id;
  json spec;
  Store *store = nullptr;
  hal_vm_state state = HAL_VM_STATE_STOPPED;
  bool deleted = false;
  int64_t boot_count = 0, run_accum_ms = 0, run_since_ms = 0;
  std::string boot_id;       ///< The simulated guest's boot id (console).
  int64_t beats = 0;         ///< Heartbeats printed in this boot.
  int64_t info_uptime = -1;  ///< REF_BUG_PAUSE_GUEST_RUNS: the frozen uptime info reports.
  std::shared_ptr<Job> job;
  int64_t uptime() const { return run_accum_ms + (run_since_ms ? now_ms() - run_since_ms : 0); }
  void clock_stop() {
    run_accum_ms = uptime();
    run_since_ms = 0;
  }
  void clock_start() {
    if (!run_since_ms) run_since_ms = now_ms();
  }
  void boot();
};

/** The VMs of one instance name, the open backends' event sinks, and (while a backend is open)
 *  the simulated consoles. */
struct Store {
  std::map<std::string, std::shared_ptr<Rec>> vms;
  std::map<uint64_t, EventSink> sinks;
  std::unique_ptr<ConsoleService> consoles;
};

std::mutex g_mu;
std::map<std::string, std::unique_ptr<Store>> g_stores;
std::map<std::string, std::weak_ptr<Rec>> g_endpoints;  // uri -> INCOMING target
int g_next_port = 41000;
uint64_t g_next_backend = 1;

/** The simulated guest prints a heartbeat this often (guest time). */
constexpr int64_t kBeatMs = 250;
/** How long a migration's switchover stops the guest. */
#ifdef REF_BUG_DOWNTIME_UNDERREPORTED
constexpr int64_t kSwitchoverMs = 700;
#else
constexpr int64_t kSwitchoverMs = 40;
#endif

/** Prints `line` on the VM's console; caller holds g_mu. */
void print(const Rec &r, const std::string &line) {
  if (r.store->consoles) r.store->consoles->write(r.id, "HAL-GUEST: " + line);
}

/** A new boot: a fresh boot id, the clock from 0, and the boot banner on the console (also what
 *  each new console client receives first). Caller holds g_mu. */
void Rec::boot() {
  static uint64_t boots = 0;
  ++boot_count;
  run_accum_ms = 0;
  run_since_ms = now_ms();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(std::hash<std::string>{}(this->id) ^
                                                (++boots * 0x9e3779b97f4a7c15ULL) ^
                                                static_cast<uint64_t>(now_ms())));
  boot_id = hex;
  beats = 0;
  const json cpu = spec.value("cpu", json::object());
  size_t nodes = spec.value("numa", json::object()).value("nodes", json::array()).size();
#ifdef REF_BUG_NUMA_IGNORED
  nodes = 0;
#endif
  std::vector<std::string> banner = {
      "HAL-GUEST: ready boot_id=" + boot_id + " uptime=0",
      "HAL-GUEST: cpus=" + std::to_string(cpu.is_object() ? cpu.value("vcpus", 1) : 1),
      "HAL-GUEST: numa nodes=" + std::to_string(std::max<size_t>(nodes, 1))};
  if (spec.value("launchSecurity", json::object()).value("type", "") == "tdx") {
    banner.push_back("HAL-GUEST: tdx_guest=1");
  }
  banner.push_back("HAL-GUEST: info-done");
  if (store->consoles) {
    store->consoles->set_greeting(id, banner);
    for (const auto &line : banner) store->consoles->write(id, line);
  }
}

/** The console thread's tick: every VM whose guest runs prints the heartbeats its clock is due. */
void print_heartbeats(Store &store);

#ifdef REF_BUG_EVENT_WRONG_VM
std::map<const Store *, std::string> g_newest;  // the VM each store defined last
#endif

/** Emits to every open backend of the VM's store; caller holds g_mu. */
void emit(const Rec &r, hal_event_type type, const json &detail = nullptr) {
#ifdef REF_BUG_NO_EVENTS
  (void)r, (void)type, (void)detail;
#else
#ifdef REF_BUG_EVENT_WRONG_VM
  const std::string &vm_id = g_newest.count(r.store) ? g_newest[r.store] : r.id;
#else
  const std::string &vm_id = r.id;
#endif
  for (const auto &[id, sink] : r.store->sinks) {
    sink.emit(type, vm_id, r.state, detail.is_null() ? std::string() : detail.dump());
  }
#endif
}

void print_heartbeats(Store &store) {
  std::lock_guard lock(g_mu);
  for (auto &[id, rec] : store.vms) {
    if (!rec->run_since_ms) continue;  // the guest is not running here
    const int64_t up = rec->uptime();
    if (up < rec->beats * kBeatMs) continue;
    ++rec->beats;
    print(*rec, "heartbeat " + std::to_string(rec->beats) + " boot_id=" + rec->boot_id +
                    " uptime_ms=" + std::to_string(up));
  }
}

void set_state(Rec &r, hal_vm_state s, const std::string &reason) {
  r.state = s;
  emit(r, HAL_EVENT_STATE_CHANGED, {{"reason", reason}});
}

[[noreturn]] void fail(hal_status st, const std::string &msg) {
  throw Failure(st, msg);
}

constexpr int kHostCpus = 8;
constexpr int kHostNodes = 2;

/** Checks a spec; answers it parsed. Caller need not hold g_mu. */
json check_spec(std::string_view text, bool tdx_host) {
  json spec = json::parse(text, nullptr, false);
#ifdef REF_BUG_ACCEPTS_BAD_SPEC
  // The bug: whatever arrives is accepted as a spec (the other checks below still run).
  if (spec.is_discarded() || !spec.is_object()) spec = json::object();
  if (!spec.contains("name")) spec["name"] = "unnamed-" + std::to_string(now_ms());
#else
  if (spec.is_discarded()) fail(HAL_INVALID_ARGUMENT, "spec: malformed JSON");
  auto errors = hal::validate_vm_spec(spec);
  if (!errors.empty()) fail(HAL_INVALID_ARGUMENT, hal::format_errors(errors));
#endif
  if (spec.contains("launchSecurity") && spec["launchSecurity"].value("type", "") == "tdx" &&
      !tdx_host) {
    fail(HAL_UNSUPPORTED,
         "spec.launchSecurity: TDX is not available: the simulated host has "
         "no TDX module");
  }
  for (const auto &n : spec.value("numa", json::object()).value("nodes", json::array())) {
    for (const auto &h : n.value("hostNodes", json::array())) {
      if (h.get<int>() >= kHostNodes) {
        fail(HAL_OUT_OF_RANGE, "spec.numa.nodes: host NUMA node " + h.dump() + " does not exist");
      }
    }
  }
  for (const auto &p : spec.value("cpu", json::object()).value("pinning", json::array())) {
    for (const auto &c : p["hostCpus"]) {
      if (c.get<int>() >= kHostCpus) {
        fail(HAL_OUT_OF_RANGE, "spec.cpu.pinning: host CPU " + c.dump() + " does not exist");
      }
    }
  }
  for (const auto &d : spec.value("hostDevices", json::array())) {
    if (d.value("hostNumaNode", 0) >= kHostNodes) {
      fail(HAL_OUT_OF_RANGE, "spec.hostDevices: host NUMA node " +
                                 std::to_string(d.value("hostNumaNode", 0)) + " does not exist");
    }
  }
  return spec;
}

json info_of(const Rec &r) {
  json info = {{"id", r.id}, {"state", hal_vm_state_name(r.state)}, {"spec", r.spec}};
  const int64_t uptime = r.info_uptime >= 0 ? r.info_uptime : r.uptime();
  info["guest"] = {{"bootCount", r.boot_count}, {"uptimeMs", uptime}, {"heartbeat", uptime / 100}};
  json placement = json::array();
  const auto nodes = r.spec.value("numa", json::object()).value("nodes", json::array());
#ifdef REF_BUG_NUMA_IGNORED
  placement.push_back({{"guestNode", 0}, {"hostNodes", {0}}, {"policy", "none"}});
#else
  for (const auto &n : nodes) {
    json p = {{"guestNode", n["id"]},
              {"policy", n.value("policy", "bind")},
              {"memory", hal::parse_quantity(n.value("memory", std::string("0"))).value_or(0)}};
    if (n.contains("hostNodes")) p["hostNodes"] = n["hostNodes"];
    placement.push_back(p);
  }
#endif
  info["numaPlacement"] = placement;
  json threads = json::array();
  const json cpu = r.spec.value("cpu", json::object());
  int vcpus = cpu.is_object() ? cpu.value("vcpus", 1) : 1;
  for (int v = 0; v < vcpus; ++v) {
    json t = {{"vcpu", v}};
    for (const auto &p : cpu.value("pinning", json::array())) {
      if (p["vcpu"] == v) t["affinity"] = p["hostCpus"];
    }
    threads.push_back(t);
  }
  info["vcpuThreads"] = threads;
  json devices = json::array();
  for (const auto &d : r.spec.value("hostDevices", json::array())) {
    json out = {{"name", d["name"]}};
    if (d.contains("guestNumaNode")) {
      out["guestNumaNode"] = d["guestNumaNode"];
    } else if (d.contains("hostNumaNode")) {
      for (const auto &n : nodes) {
        for (const auto &h : n.value("hostNodes", json::array())) {
          if (h == d["hostNumaNode"] && !out.contains("guestNumaNode")) {
            out["guestNumaNode"] = n["id"];
          }
        }
      }
    }
    devices.push_back(out);
  }
  info["hostDevices"] = devices;
  return info;
}

class RefBackend;

class RefVm : public hal::plugin::Vm {
 public:
  RefVm(RefBackend &backend, std::shared_ptr<Rec> rec);
  ~RefVm() override;

  void start(uint32_t flags) override {
#ifdef REF_BUG_CRASH_IN_START
    std::raise(SIGSEGV);
#endif
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    switch (r.state) {
      case HAL_VM_STATE_RUNNING:
        return;
      case HAL_VM_STATE_STOPPED:
      case HAL_VM_STATE_CRASHED:
        break;
      default:
        fail(HAL_FAILED_PRECONDITION, "vm_start " + r.id + ": VM is " + hal_vm_state_name(r.state));
    }
    r.boot();
    if (flags & HAL_START_PAUSED) {
      r.clock_stop();
      set_state(r, HAL_VM_STATE_PAUSED, "started paused");
    } else {
      set_state(r, HAL_VM_STATE_RUNNING, "started");
    }
  }
  void force_stop() override {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    if (r.state == HAL_VM_STATE_STOPPED) return;
    if (r.state == HAL_VM_STATE_MIGRATED) {
#ifdef REF_BUG_MIGRATED_FORCE_STOP
      fail(HAL_FAILED_PRECONDITION, "vm_force_stop " + r.id + ": VM migrated away");
#else
      return;  // the guest runs on the target; nothing here to stop
#endif
    }
    if (r.job && r.job->status == "active") r.job->cancel = true;
    r.clock_stop();
    set_state(r, HAL_VM_STATE_STOPPED, "force stop");
  }
  void remove(uint32_t) override {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    if (r.state != HAL_VM_STATE_STOPPED && r.state != HAL_VM_STATE_CRASHED &&
        r.state != HAL_VM_STATE_MIGRATED) {
      fail(HAL_FAILED_PRECONDITION, "vm_delete " + r.id + ": VM is " + hal_vm_state_name(r.state));
    }
    r.deleted = true;
    if (r.store->consoles) r.store->consoles->remove(r.id);
    emit(r, HAL_EVENT_VM_DELETED, {{"reason", "deleted"}});
    r.store->vms.erase(r.id);
  }
  hal_vm_state state() override {
    std::lock_guard lock(g_mu);
    return alive().state;
  }
  std::string info() override {
    std::lock_guard lock(g_mu);
    return info_of(alive()).dump();
  }
  void pause() override {
#ifdef REF_BUG_CAPABILITY_LIES
    fail(HAL_UNSUPPORTED, "vm_pause: not supported");
#endif
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    if (r.state == HAL_VM_STATE_PAUSED) return;
    if (r.state != HAL_VM_STATE_RUNNING) {
      fail(HAL_FAILED_PRECONDITION, "vm_pause " + r.id + ": VM is " + hal_vm_state_name(r.state));
    }
#if defined(REF_BUG_PAUSE_GUEST_RUNS)
    r.info_uptime = r.uptime();  // info looks frozen; the guest's clock runs on
    set_state(r, HAL_VM_STATE_PAUSED, "paused");
#elif !defined(REF_BUG_PAUSE_NOOP)
    r.clock_stop();
    set_state(r, HAL_VM_STATE_PAUSED, "paused");
#endif
  }
  void resume() override {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    if (r.state == HAL_VM_STATE_RUNNING) return;
    if (r.state != HAL_VM_STATE_PAUSED) {
      fail(HAL_FAILED_PRECONDITION, "vm_resume " + r.id + ": VM is " + hal_vm_state_name(r.state));
    }
    r.info_uptime = -1;
    r.clock_start();
    set_state(r, HAL_VM_STATE_RUNNING, "resumed");
  }
  void shutdown(uint32_t timeout_ms, uint32_t flags) override {
#ifdef REF_BUG_HANG_IN_SHUTDOWN
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
#endif
    {
      std::lock_guard lock(g_mu);
      Rec &r = alive();
      if (r.state == HAL_VM_STATE_STOPPED) return;
      if (r.state == HAL_VM_STATE_RUNNING) {  // the simulated guest obeys ACPI at once
#ifndef REF_BUG_SHUTDOWN_FORCES
        print(r, "powerdown");
#endif
        r.clock_stop();
        set_state(r, HAL_VM_STATE_STOPPED, "guest powered off");
#ifdef REF_BUG_DUPLICATE_EVENT
        emit(r, HAL_EVENT_STATE_CHANGED, {{ "reason", "guest powered off" }});
#endif
        return;
      }
      if (r.state != HAL_VM_STATE_PAUSED) {
        fail(HAL_FAILED_PRECONDITION,
             "vm_shutdown " + r.id + ": VM is " + hal_vm_state_name(r.state));
      }
    }
    // A paused guest cannot see the ACPI request.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint32_t>(timeout_ms, 2000)));
    if (flags & HAL_SHUTDOWN_NO_FORCE) {
      fail(HAL_DEADLINE_EXCEEDED, "vm_shutdown: the paused guest did not power off");
    }
    force_stop();
  }
  void reboot() override {
    guest_reboot("vm_reboot", false);
  }
  void reset() override {
    guest_reboot("vm_reset", true);
  }
  std::string console() override {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    if (r.state == HAL_VM_STATE_STOPPED || r.state == HAL_VM_STATE_CRASHED ||
        r.state == HAL_VM_STATE_MIGRATED || !r.store->consoles) {
      fail(HAL_FAILED_PRECONDITION,
           "vm_get_console " + r.id + ": VM is " + hal_vm_state_name(r.state) + "; no console");
    }
    return json{{"type", "unix"}, {"path", r.store->consoles->path(r.id)}}.dump();
  }
  void migration_send(std::string_view params_json) override;
  std::string migration_progress() override {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    return r.job ? r.job->doc().dump() : json{{"status", "none"}}.dump();
  }
  void migration_cancel() override {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
#ifdef REF_BUG_CANCEL_AFTER_COMPLETION
    if (r.job && r.job->status == "completed") return;
#endif
#if defined(REF_TARGET_CANCEL_REFUSED) || defined(REF_BUG_REFUSED_CANCEL_STOPS)
    if (r.state == HAL_VM_STATE_INCOMING) {
#ifdef REF_BUG_REFUSED_CANCEL_STOPS
      if (!r.job) set_state(r, HAL_VM_STATE_STOPPED, "incoming migration cancelled");
#endif
      fail(HAL_FAILED_PRECONDITION, "migration_cancel " + r.id + ": cancel on the source instead");
    }
#endif
    if (r.state == HAL_VM_STATE_INCOMING && !r.job) {  // target, nothing sent yet: stop listening
#ifndef REF_BUG_TARGET_CANCEL_IGNORED
      r.job = std::make_shared<Job>();
      r.job->status = "cancelled";
      r.job->error = "incoming migration cancelled";
      set_state(r, HAL_VM_STATE_STOPPED, "incoming migration cancelled");
      emit(r, HAL_EVENT_MIGRATION_FINISHED, r.job->doc());
#endif
      return;
    }
    if (!r.job || (r.job->status != "active" && r.job->status != "setup")) {
      fail(HAL_FAILED_PRECONDITION, "migration_cancel " + r.id + ": no migration running");
    }
    if (r.job->switching) {
      fail(HAL_FAILED_PRECONDITION, "migration_cancel " + r.id + ": the migration is completing");
    }
    r.job->cancel = true;
    if (r.state == HAL_VM_STATE_INCOMING) {  // target during the transfer: the worker sees it
      set_state(r, HAL_VM_STATE_STOPPED, "incoming migration cancelled");
    }
  }

 private:
  // The handle's VM, or NOT_FOUND once it was deleted (g_mu held).
  Rec &alive();
  void guest_reboot(const char *op, bool allow_paused) {
    std::lock_guard lock(g_mu);
    Rec &r = alive();
    if (r.state != HAL_VM_STATE_RUNNING && !(allow_paused && r.state == HAL_VM_STATE_PAUSED)) {
      fail(HAL_FAILED_PRECONDITION,
           std::string(op) + " " + r.id + ": VM is " + hal_vm_state_name(r.state));
    }
    bool paused = r.state == HAL_VM_STATE_PAUSED;
    const bool graceful = std::string_view(op) == "vm_reboot";
#ifdef REF_BUG_REBOOT_IS_RESET
    (void)graceful;
#else
    if (graceful) print(r, "reboot");
#endif
#ifdef REF_BUG_RESET_KEEPS_BOOT
    if (!graceful) {  // the lie: a reboot reported, the guest untouched
      ++r.boot_count;
      emit(r, HAL_EVENT_GUEST_REBOOTED, {{ "reason", op }});
      return;
    }
#endif
    r.boot();
    if (paused) r.clock_stop();
    emit(r, HAL_EVENT_GUEST_REBOOTED, {{"reason", op}});
  }

  RefBackend &backend_;
  std::shared_ptr<Rec> rec_;
};

class RefBackend : public hal::plugin::Backend {
 public:
  RefBackend(std::string_view config_json, EventSink events) {
#ifdef REF_BUG_LEAKS_THREAD
    std::thread([] { std::this_thread::sleep_for(std::chrono::hours(1)); }).detach();
#endif
    json config = json::parse(config_json.empty() ? "{}" : config_json, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      fail(HAL_INVALID_ARGUMENT, "config: must be a JSON object");
    }
    instance_ = config.value("instance", "default");
    tdx_ = config.value("tdx", false);
    std::lock_guard lock(g_mu);
    auto &store = g_stores[instance_];
    if (!store) store = std::make_unique<Store>();
    store_ = store.get();
    id_ = g_next_backend++;
    store_->sinks[id_] = events;
    if (!store_->consoles) {
      store_->consoles = std::make_unique<ConsoleService>(
          [store = store_] { print_heartbeats(*store); }, std::chrono::milliseconds(50));
    }
  }
  void close(uint32_t flags) override {
    if (handles.load() > 0) {
      fail(HAL_FAILED_PRECONDITION,
           "close: " + std::to_string(handles.load()) + " VM handles are not released");
    }
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(g_mu);
      for (auto &[id, rec] : store_->vms) {
        if (rec->job && rec->job->status == "active") rec->job->cancel = true;
      }
      workers.swap(workers_);
    }
    for (auto &w : workers) w.join();
    std::unique_ptr<ConsoleService> consoles;  // the last backend's; stopped without g_mu
    std::lock_guard lock(g_mu);
    store_->sinks.erase(id_);
    if (store_->sinks.empty()) consoles = std::move(store_->consoles);
    if (flags & HAL_CLOSE_STOP_VMS) {
      for (auto &[id, rec] : store_->vms) {
        rec->clock_stop();
        rec->state = HAL_VM_STATE_STOPPED;
      }
    }
  }
  std::string capabilities() override {
    json ops = json::parse(hal::plugin::operations_json<RefBackend, RefVm>(abi_version()));
    return json{{"abiVersion", abi_version_string()},
                {"hypervisor", "reference"},
                {"accelerator", "sim"},
                {"operations", ops},
                {"features",
                 {{"liveMigration", true},
                  {"numa", true},
                  {"vcpuPinning", true},
                  {"tdx", tdx_},
                  {"console", true}}},
                {"limits", {{"maxVcpus", 64}}}}
        .dump();
  }
  std::string host_info() override {
    return json{
        {"cpus", kHostCpus},
        {"onlineCpus", {0, 1, 2, 3, 4, 5, 6, 7}},
        {"memory", int64_t{16} << 30},
        {"numaNodes",
         {{{"id", 0}, {"cpus", {0, 1, 2, 3}}, {"memory", int64_t{8} << 30}},
          {{"id", 1}, {"cpus", {4, 5, 6, 7}}, {"memory", int64_t{8} << 30}}}},
        {"pciDevices", json::array()},
        {"tdx",
         {{"supported", tdx_}, {"reason", tdx_ ? "" : "the simulated host has no TDX module"}}},
        {"accelerator", "sim"}}
        .dump();
  }
  std::unique_ptr<hal::plugin::Vm> create_vm(std::string_view spec_json, uint32_t flags) override {
    json spec = check_spec(spec_json, tdx_);
    if (flags & HAL_CREATE_VALIDATE_ONLY) return nullptr;
    auto rec = std::make_shared<Rec>();
    rec->id = spec.value("name", "");
    rec->spec = spec;
    rec->store = store_;
    {
      std::lock_guard lock(g_mu);
      if (store_->vms.count(rec->id)) fail(HAL_ALREADY_EXISTS, "VM " + rec->id + " exists");
      store_->vms[rec->id] = rec;
#ifdef REF_BUG_EVENT_WRONG_VM
      g_newest[store_] = rec->id;
#endif
    }
    auto vm = std::make_unique<RefVm>(*this, rec);
    if (flags & HAL_CREATE_START) vm->start(0);
    return vm;
  }
  std::unique_ptr<hal::plugin::Vm> lookup_vm(std::string_view vm_id) override {
    std::lock_guard lock(g_mu);
    auto it = store_->vms.find(std::string(vm_id));
    if (it == store_->vms.end()) fail(HAL_NOT_FOUND, "VM " + std::string(vm_id) + " not found");
    return std::make_unique<RefVm>(*this, it->second);
  }
  std::string list_vms() override {
    std::lock_guard lock(g_mu);
    json vms = json::array();
    for (const auto &[id, rec] : store_->vms) {
      vms.push_back({{"id", id}, {"state", hal_vm_state_name(rec->state)}});
    }
    return json{{"vms", vms}}.dump();
  }
  std::unique_ptr<hal::plugin::Vm> prepare_incoming(std::string_view spec_json, std::string_view,
                                                    std::string &out_endpoint_json) override {
    json spec = check_spec(spec_json, tdx_);
    if (spec.contains("launchSecurity") && spec["launchSecurity"].value("type", "") == "tdx") {
      fail(HAL_UNSUPPORTED, "migration_prepare_incoming: TDX VMs cannot migrate");
    }
    auto rec = std::make_shared<Rec>();
    rec->id = spec.value("name", "");
    rec->spec = spec;
    rec->store = store_;
    rec->state = HAL_VM_STATE_INCOMING;
    std::lock_guard lock(g_mu);
    if (store_->vms.count(rec->id)) fail(HAL_ALREADY_EXISTS, "VM " + rec->id + " exists");
    store_->vms[rec->id] = rec;
    std::string uri = "tcp:127.0.0.1:" + std::to_string(g_next_port++);
    g_endpoints[uri] = rec;
    out_endpoint_json = json{{"uri", uri}}.dump();
    return std::make_unique<RefVm>(*this, rec);
  }

  /** Runs a migration worker; joined at close. Caller holds g_mu. */
  void spawn(std::function<void()> fn) {
    workers_.emplace_back(std::move(fn));
  }
  std::atomic<int> handles{0};
  /** The instance name this backend serves. */
  const std::string &instance() const {
    return instance_;
  }

 private:
  std::string instance_;
  bool tdx_ = false;
  Store *store_ = nullptr;
  uint64_t id_ = 0;
  std::vector<std::thread> workers_;
};

RefVm::RefVm(RefBackend &backend, std::shared_ptr<Rec> rec)
    : backend_(backend), rec_(std::move(rec)) {
  ++backend_.handles;
}
RefVm::~RefVm() {
  --backend_.handles;
}
Rec &RefVm::alive() {
#ifdef REF_BUG_STALE_HANDLE
  auto &vms = g_stores[backend_.instance()]->vms;
  if (auto it = vms.find(rec_->id); it != vms.end()) rec_ = it->second;
#endif
  if (rec_->deleted) fail(HAL_NOT_FOUND, "VM " + rec_->id + " was deleted");
  return *rec_;
}

void RefVm::migration_send(std::string_view params_json) {
  json params = json::parse(params_json, nullptr, false);
  if (params.is_discarded() || !params.is_object() || !params.contains("uri")) {
    fail(HAL_INVALID_ARGUMENT, "migration_send: params need a \"uri\"");
  }
  std::lock_guard lock(g_mu);
  Rec &r = alive();
  if (r.state != HAL_VM_STATE_RUNNING && r.state != HAL_VM_STATE_PAUSED) {
    fail(HAL_FAILED_PRECONDITION,
         "migration_send " + r.id + ": VM is " + hal_vm_state_name(r.state));
  }
  if (r.job && (r.job->status == "active" || r.job->status == "setup")) {
    fail(HAL_FAILED_PRECONDITION, "migration_send " + r.id + ": a migration already runs");
  }
  if (r.spec.contains("launchSecurity") && r.spec["launchSecurity"].value("type", "") == "tdx") {
    fail(HAL_UNSUPPORTED, "migration_send: TDX VMs cannot migrate");
  }
  auto job = std::make_shared<Job>();
  job->total =
      hal::parse_quantity(r.spec.value("memory", json::object()).value("size", std::string("1Gi")))
          .value_or(uint64_t{1} << 30);
  r.job = job;
  std::weak_ptr<Rec> target;
  auto it = g_endpoints.find(params["uri"].get<std::string>());
  if (it != g_endpoints.end()) target = it->second;
  int64_t bw = params.value("bandwidthMiBps", 0);
  uint64_t step = (bw > 0 ? static_cast<uint64_t>(bw) : 2048) << 20;  // bytes per 1 s
  step /= 100;                                                        // per 10 ms
  std::shared_ptr<Rec> self = rec_;
  backend_.spawn([self, job, target, step] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::unique_lock lock(g_mu);
    auto tgt = target.lock();
    if (!tgt || tgt->state != HAL_VM_STATE_INCOMING) {
      job->status = "failed";
      job->error = "cannot connect to the migration target";
      emit(*self, HAL_EVENT_MIGRATION_FINISHED, job->doc());
      return;
    }
    tgt->job = job;
    job->status = "active";
    while (true) {
      if (job->cancel || tgt->state != HAL_VM_STATE_INCOMING) {
        job->status = job->cancel ? "cancelled" : "failed";
        job->error = job->cancel ? "cancelled" : "target went away";
#ifdef REF_BUG_TARGET_CANCEL_LOSES_GUEST
        if (tgt->state == HAL_VM_STATE_STOPPED) {
          self->clock_stop();
          set_state(*self, HAL_VM_STATE_MIGRATED, "migrated");
        }
#endif
#ifdef REF_BUG_CANCEL_LEAVES_TARGET
        if (job->transferred == 0 && tgt->state == HAL_VM_STATE_INCOMING)
#else
        if (tgt->state == HAL_VM_STATE_INCOMING)
#endif
          set_state(*tgt, HAL_VM_STATE_STOPPED, "cancelled");
        emit(*self, HAL_EVENT_MIGRATION_FINISHED, job->doc());
        return;
      }
      if (job->transferred >= job->total) break;
      job->transferred = std::min(job->total, job->transferred + step);
      emit(*self, HAL_EVENT_MIGRATION_PROGRESS, job->doc());
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      lock.lock();
    }
    // Stop and copy: the guest stops on the source while its last state moves to the target.
    const bool was_paused = self->state == HAL_VM_STATE_PAUSED;
    [[maybe_unused]] const int64_t stopped_at = now_ms();
    self->clock_stop();
    job->switching = true;
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(kSwitchoverMs));
    lock.lock();
    if (tgt->state != HAL_VM_STATE_INCOMING) {
      job->status = "failed";
      job->error = "target went away during the switchover";
      if (!was_paused) self->clock_start();
      emit(*self, HAL_EVENT_MIGRATION_FINISHED, job->doc());
      return;
    }
#ifdef REF_BUG_DOWNTIME_UNDERREPORTED
    job->downtime_ms = 5;
#else
    job->downtime_ms = now_ms() - stopped_at;
#endif
    job->status = "completed";
    tgt->boot_count = self->boot_count;
    tgt->boot_id = self->boot_id;
    tgt->beats = self->beats;
    tgt->run_accum_ms = self->uptime();
#ifdef REF_BUG_MIGRATION_REBOOTS
    tgt->boot();
    tgt->clock_stop();
#endif
    set_state(*self, HAL_VM_STATE_MIGRATED, "migrated");
    if (!was_paused) tgt->clock_start();
    set_state(*tgt, was_paused ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING, "migrated in");
    emit(*self, HAL_EVENT_MIGRATION_FINISHED, job->doc());
  });
}

const char *identity() {
  return R"({"name":"reference)"
#if defined(REF_VARIANT)
         "-" REF_VARIANT
#endif
         R"(","vendor":"HAL conformance self-test","version":"1.0.0",)"
         R"("description":"reference backend for hal-conformance self-tests",)"
         R"("hypervisor":"simulated"})";
}

}  // namespace ref

#if defined(REF_BUG_UNKNOWN_FLAGS) || defined(REF_BUG_EXCLUSIVE_FLAGS) || \
    defined(REF_BUG_NULL_CRASH)
// These variants break rules plugin.hpp's thunks enforce, so they answer the host a copy of the
// generated table (one per negotiated minor) whose entries bend the flags before calling the real
// thunks, which every minor's table shares.
namespace {
std::mutex g_lax_mu;
std::map<const hal_backend_table *, hal_backend_table> g_lax_tables;  // strict -> lax copy
std::atomic<const hal_backend_table *> g_strict{nullptr};
#ifdef REF_BUG_UNKNOWN_FLAGS
hal_status lax_start(hal_vm *vm, uint32_t flags, hal_error *error) {
  return g_strict.load()->vm_start(vm, flags & HAL_START_FLAGS_ALL, error);
}
#endif
#ifdef REF_BUG_NULL_CRASH
hal_status lax_create(hal_backend *backend, const char *spec, uint32_t flags, hal_vm **out,
                      hal_error *error) {
  if (spec == nullptr) std::raise(SIGSEGV);  // what reading a NULL spec would do
  return g_strict.load()->vm_create(backend, spec, flags, out, error);
}
#endif
#ifdef REF_BUG_EXCLUSIVE_FLAGS
hal_status lax_create(hal_backend *backend, const char *spec, uint32_t flags, hal_vm **out,
                      hal_error *error) {
  if (flags & HAL_CREATE_START) flags &= ~HAL_CREATE_VALIDATE_ONLY;
  return g_strict.load()->vm_create(backend, spec, flags, out, error);
}
hal_status lax_close(hal_backend *backend, uint32_t flags, hal_error *error) {
  if (flags & HAL_CLOSE_STOP_VMS) flags &= ~HAL_CLOSE_KEEP_VMS;
  return g_strict.load()->close(backend, flags, error);
}
#endif
}  // namespace
extern "C" HAL_PLUGIN_EXPORT hal_status hal_plugin_negotiate(uint32_t host_abi_version,
                                                             uint32_t flags,
                                                             const hal_backend_table **out,
                                                             hal_error *error) {
  const hal_backend_table *strict = nullptr;
  hal_status st = hal::plugin::detail::negotiate<ref::RefBackend, ref::RefVm, &ref::identity>(
      host_abi_version, flags, out == nullptr ? nullptr : &strict, error);
  if (st != HAL_OK) return st;
  std::lock_guard lock(g_lax_mu);
  g_strict = strict;
  auto [it, added] = g_lax_tables.try_emplace(strict, *strict);
  hal_backend_table &lax = it->second;
  if (added) {
#ifdef REF_BUG_UNKNOWN_FLAGS
    lax.vm_start = &lax_start;
#endif
#ifdef REF_BUG_NULL_CRASH
    lax.vm_create = &lax_create;
#endif
#ifdef REF_BUG_EXCLUSIVE_FLAGS
    lax.vm_create = &lax_create;
    lax.close = &lax_close;
#endif
  }
  *out = &lax;
  return HAL_OK;
}
#else
extern "C" HAL_PLUGIN_EXPORT hal_status hal_plugin_negotiate(uint32_t host_abi_version,
                                                             uint32_t flags,
                                                             const hal_backend_table **out,
                                                             hal_error *error) {
#ifdef REF_BUG_NEGOTIATION
  if (HAL_VERSION_MAJOR(host_abi_version) != HAL_ABI_VERSION_MAJOR)
    host_abi_version = HAL_ABI_VERSION;  // answers a table of a major the host did not offer
#endif
  return hal::plugin::detail::negotiate<ref::RefBackend, ref::RefVm, &ref::identity>(
      host_abi_version, flags, out, error);
}
#endif
