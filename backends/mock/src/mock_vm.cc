// mock_vm.cc - one mock VM handle: the lifecycle state machine, the simulated guest and the
// vm_get_info document (NUMA, pinning, devices and TDX "declared as configured").
#include <thread>

#include "mock_backend.h"

namespace hal::mock {

using nlohmann::json;
using plugin::Failure;

namespace {

[[noreturn]] void precondition(const char *op, const VmRecord &record, const std::string &why) {
  throw Failure(HAL_FAILED_PRECONDITION,
                std::string(op) + ": VM '" + record.id + "' is " + state_name(record.state) + why);
}

}  // namespace

json vm_info(const VmRecord &record, const Config &config) {
  json spec = json::parse(record.spec);
  int64_t vcpus = spec["cpu"]["vcpus"].get<int64_t>();
  json numa_nodes = json::array();
  if (spec.contains("numa") && spec["numa"].contains("nodes")) {
    for (const auto &node : spec["numa"]["nodes"])
      numa_nodes.push_back({{"id", node.value("id", 0)},
                            {"vcpus", node.value("vcpus", json::array())},
                            {"memoryMiB", parse_quantity(node.value("memory", json("0"))) >> 20},
                            {"hostNodes", node.value("hostNodes", json::array())},
                            {"policy", node.value("policy", "bind")}});
  } else {
    json all = json::array();
    for (int64_t v = 0; v < vcpus; ++v) all.push_back(v);
    numa_nodes.push_back({{"id", 0},
                          {"vcpus", all},
                          {"memoryMiB", record.memory_bytes >> 20},
                          {"hostNodes", json::array()},
                          {"policy", "none"}});
  }
  json host_cpus = json::array();
  for (const auto &node : config.host["numaNodes"])
    for (const auto &c : node["cpus"]) host_cpus.push_back(c);
  json vcpu_list = json::array();
  for (int64_t v = 0; v < vcpus; ++v) {
    json pinned = host_cpus;
    for (const auto &pin : spec["cpu"].value("pinning", json::array()))
      if (pin.value("vcpu", -1) == v) pinned = pin.value("hostCpus", host_cpus);
    vcpu_list.push_back({{"vcpu", v}, {"hostCpus", pinned}});
  }
  // Guest NUMA placement and vCPU threads in the vm-info.schema.json shape.
  json placement = json::array();
  for (const auto &node : numa_nodes)
    placement.push_back({{"guestNode", node["id"]},
                         {"hostNodes", node["hostNodes"]},
                         {"policy", node["policy"]},
                         {"memory", node["memoryMiB"].get<uint64_t>() << 20}});
  json threads = json::array();
  for (const auto &v : vcpu_list)
    threads.push_back({{"vcpu", v["vcpu"]}, {"affinity", v["hostCpus"]}});
  json devices = json::array();
  for (const auto &dev : spec.value("hostDevices", json::array())) {
    json host_node = dev.value("hostNumaNode", json(nullptr));
    if (dev.value("type", "") == "pci")
      for (const auto &pci : config.host.value("pciDevices", json::array()))
        if (pci.value("address", "") == dev.value("pciAddress", ""))
          host_node = pci.value("numaNode", json(nullptr));
    // No guestNumaNode: the guest node bound to the device's host node, else node 0.
    json guest_node = dev.value("guestNumaNode", json(nullptr));
    if (guest_node.is_null()) {
      guest_node = numa_nodes[0]["id"];
      for (const auto &node : numa_nodes)
        for (const auto &h : node["hostNodes"])
          if (!host_node.is_null() && h == host_node && guest_node == numa_nodes[0]["id"])
            guest_node = node["id"];
    }
    devices.push_back({{"name", dev.value("name", "")},
                       {"guestNumaNode", guest_node},
                       {"hostNumaNode", host_node}});
  }
  json launch = spec.value("launchSecurity", json{{"type", "none"}});
  return {{"id", record.id},        {"state", state_name(record.state)},
          {"spec", spec},           {"guest", record.guest()},
          {"hostDevices", devices}, {"numaPlacement", placement},
          {"vcpuThreads", threads}, {"launchSecurity", launch}};
}

MockVm::MockVm(MockBackend &backend, std::shared_ptr<VmRecord> record)
    : backend_(backend), record_(std::move(record)) {
  backend_.handles.fetch_add(1);
}

MockVm::~MockVm() {
  backend_.handles.fetch_sub(1);
}

std::unique_lock<std::mutex> MockVm::lock_alive(const char *op) {
  std::unique_lock lock(record_->mu);
  if (record_->deleted)
    throw Failure(HAL_NOT_FOUND, std::string(op) + ": VM '" + record_->id + "' was deleted");
  return lock;
}

void MockVm::start(uint32_t flags) {
  backend_.slow();
  auto lock = lock_alive("vm_start");
  VmRecord &r = *record_;
  if (r.state == HAL_VM_STATE_RUNNING) return;
  if (r.state != HAL_VM_STATE_STOPPED && r.state != HAL_VM_STATE_CRASHED)
    precondition("vm_start", r,
                 r.state == HAL_VM_STATE_PAUSED ? "; resume it instead" : "; cannot start");
  std::vector<PendingEvent> events;
  backend_.set_state(r, HAL_VM_STATE_STARTING, "vm_start", events);
  backend_.deliver(lock, r.id, events);

  bool fail = backend_.take_start_fault(r.id);
  lock = lock_alive("vm_start");
  if (r.state != HAL_VM_STATE_STARTING) precondition("vm_start", r, " (changed while starting)");
  if (fail) {
    backend_.set_state(r, HAL_VM_STATE_CRASHED, "hypervisor failed to start (injected fault)",
                       events);
    backend_.deliver(lock, r.id, events);
    throw Failure(HAL_UNAVAILABLE, "vm_start: hypervisor failed to start VM '" + r.id +
                                       "': injected fault (faults.failStart)");
  }
  r.boot_count += 1;
  r.boot_at_run_ms = r.run_ms();
  r.generation += 1;
  bool paused = flags & HAL_START_PAUSED;
  if (!paused) r.clock_start();
  backend_.set_state(r, paused ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING, "vm_start", events);
  backend_.deliver(lock, r.id, events);
  backend_.arm_crash(record_);
}

void MockVm::force_stop() {
  backend_.slow();
  auto lock = lock_alive("vm_force_stop");
  VmRecord &r = *record_;
  // MIGRATED: the guest runs on the target now; nothing here to stop (hal.h: OK, unchanged).
  if (r.state == HAL_VM_STATE_STOPPED || r.state == HAL_VM_STATE_MIGRATED) return;
  if (r.migration) r.migration->cancel = true;
  r.clock_stop();
  std::vector<PendingEvent> events;
  backend_.set_state(r, HAL_VM_STATE_STOPPED, "vm_force_stop", events);
  backend_.deliver(lock, r.id, events);
}

void MockVm::remove(uint32_t /*flags*/) {
  backend_.slow();
  auto lock = lock_alive("vm_delete");
  VmRecord &r = *record_;
  if (r.state != HAL_VM_STATE_STOPPED && r.state != HAL_VM_STATE_CRASHED &&
      r.state != HAL_VM_STATE_MIGRATED)
    precondition("vm_delete", r, "; stop it first");
  r.deleted = true;
  backend_.store().erase(r.id);
  std::vector<PendingEvent> events{{HAL_EVENT_VM_DELETED, r.state, {{"reason", "deleted"}}}};
  backend_.deliver(lock, r.id, events);
}

hal_vm_state MockVm::state() {
  auto lock = lock_alive("vm_get_state");
  return record_->state;
}

std::string MockVm::info() {
  auto lock = lock_alive("vm_get_info");
  return vm_info(*record_, backend_.config()).dump();
}

void MockVm::pause() {
  backend_.slow();
  auto lock = lock_alive("vm_pause");
  VmRecord &r = *record_;
  if (r.state == HAL_VM_STATE_PAUSED) return;
  if (r.state != HAL_VM_STATE_RUNNING) precondition("vm_pause", r, "; only a Running VM pauses");
  r.clock_stop();
  std::vector<PendingEvent> events;
  backend_.set_state(r, HAL_VM_STATE_PAUSED, "vm_pause", events);
  backend_.deliver(lock, r.id, events);
}

void MockVm::resume() {
  backend_.slow();
  auto lock = lock_alive("vm_resume");
  VmRecord &r = *record_;
  if (r.state == HAL_VM_STATE_RUNNING) return;
  if (r.state != HAL_VM_STATE_PAUSED) precondition("vm_resume", r, "; only a Paused VM resumes");
  r.clock_start();
  std::vector<PendingEvent> events;
  backend_.set_state(r, HAL_VM_STATE_RUNNING, "vm_resume", events);
  backend_.deliver(lock, r.id, events);
}

void MockVm::shutdown(uint32_t timeout_ms, uint32_t flags) {
  backend_.slow();
  auto lock = lock_alive("vm_shutdown");
  VmRecord &r = *record_;
  if (r.state == HAL_VM_STATE_STOPPED) return;
  if (!r.guest_up()) precondition("vm_shutdown", r, "; cannot shut down");
  // A paused guest cannot see the ACPI request.
  bool honours = !backend_.config().faults.ignore_acpi && r.run_since_ms != 0;
  std::vector<PendingEvent> events;
  if (r.state != HAL_VM_STATE_SHUTTING_DOWN)
    backend_.set_state(r, HAL_VM_STATE_SHUTTING_DOWN, "vm_shutdown: ACPI power-off requested",
                       events);
  backend_.deliver(lock, r.id, events);

  int64_t acpi_ms = backend_.config().acpi_shutdown_ms;
  auto begin = std::chrono::steady_clock::now();
  auto deadline = begin + std::chrono::milliseconds(timeout_ms);
  auto powers_off_at = begin + std::chrono::milliseconds(acpi_ms);
  for (;;) {
    lock = lock_alive("vm_shutdown");
    if (r.state != HAL_VM_STATE_SHUTTING_DOWN) {
      if (r.state == HAL_VM_STATE_STOPPED) return;
      precondition("vm_shutdown", r, " (changed during shutdown)");
    }
    auto now = std::chrono::steady_clock::now();
    if (honours && now >= powers_off_at && powers_off_at <= deadline) {
      r.clock_stop();
      backend_.set_state(r, HAL_VM_STATE_STOPPED, "guest powered off (ACPI)", events);
      backend_.deliver(lock, r.id, events);
      return;
    }
    if (now >= deadline) break;
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (flags & HAL_SHUTDOWN_NO_FORCE) {
    if (honours)  // the request was seen: the guest still powers off, just later
      backend_.arm_acpi_power_off(record_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                               powers_off_at - std::chrono::steady_clock::now())
                                               .count());
    throw Failure(HAL_DEADLINE_EXCEEDED,
                  "vm_shutdown: VM '" + r.id + "' did not power off within " +
                      std::to_string(timeout_ms) + " ms; it stays ShuttingDown");
  }
  r.clock_stop();
  backend_.set_state(r, HAL_VM_STATE_STOPPED,
                     "vm_shutdown: timeout of " + std::to_string(timeout_ms) + " ms, forced off",
                     events);
  backend_.deliver(lock, r.id, events);
}

void MockVm::guest_reboot(const char *op, bool allow_paused) {
  backend_.slow();
  auto lock = lock_alive(op);
  VmRecord &r = *record_;
  if (r.state != HAL_VM_STATE_RUNNING && !(allow_paused && r.state == HAL_VM_STATE_PAUSED))
    precondition(op, r, allow_paused ? "; not Running or Paused" : "; not Running");
  r.boot_count += 1;
  r.boot_at_run_ms = r.run_ms();
  std::vector<PendingEvent> events;
  events.push_back(
      {HAL_EVENT_GUEST_REBOOTED, r.state, {{"reason", op}, {"bootCount", r.boot_count}}});
  backend_.store().persist(r);
  backend_.deliver(lock, r.id, events);
}

void MockVm::reboot() {
  guest_reboot("vm_reboot", false);
}

void MockVm::reset() {
  guest_reboot("vm_reset", true);
}

}  // namespace hal::mock
