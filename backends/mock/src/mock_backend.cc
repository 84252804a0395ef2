// mock_backend.cc - the mock backend instance: open/close, capabilities, host info, spec checks
// against the configured host, VM creation/lookup/listing, events, timers and workers.
#include "mock_backend.h"

#include <algorithm>
#include <set>

namespace hal::mock {

using nlohmann::json;
using plugin::Failure;

// ---------------------------------------------------------------------------------------------
// Timers

void Timers::after(int64_t delay_ms, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  queue_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms),
                 std::move(fn));
  cv_.notify_all();
}

void Timers::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Timers::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = queue_.begin();
    const auto due = first->first;  // a copy: stop() may clear the queue while we wait
    if (due > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, due);
      continue;
    }
    auto fn = std::move(first->second);
    queue_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

namespace {

[[noreturn]] void invalid(const std::string &message) {
  throw Failure(HAL_INVALID_ARGUMENT, message);
}

std::string idx(const std::string &path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MockBackend

MockBackend::MockBackend(std::string_view config_json, plugin::EventSink events)
    : config_(parse_config(config_json)), events_(events) {
  store_ = Store::attach(config_);
  fail_start_left_ = config_.faults.fail_start_count;
  rearm_crashes();
}

MockBackend::~MockBackend() {
  stop_workers();
}

void MockBackend::close(uint32_t flags) {
  if (int open = handles.load(); open > 0)
    throw Failure(HAL_FAILED_PRECONDITION,
                  "close: " + std::to_string(open) + " VM handle(s) still unreleased");
  if (flags & HAL_CLOSE_STOP_VMS) {
    for (const auto &record : store_->all()) {
      std::unique_lock lock(record->mu);
      if (record->deleted || record->state == HAL_VM_STATE_STOPPED ||
          record->state == HAL_VM_STATE_MIGRATED)
        continue;
      if (record->migration) record->migration->cancel = true;
      record->clock_stop();
      std::vector<PendingEvent> events;
      set_state(*record, HAL_VM_STATE_STOPPED, "backend closed with HAL_CLOSE_STOP_VMS", events);
      deliver(lock, record->id, events);
    }
  }
  stop_workers();
}

void MockBackend::stop_workers() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(workers_mu_);
    closed_ = true;
    for (auto &weak : jobs_)
      if (auto job = weak.lock()) job->cancel = true;
    workers.swap(workers_);
  }
  for (auto &worker : workers) worker.join();
  timers_.stop();
}

void MockBackend::spawn(std::function<void()> fn) {
  std::lock_guard lock(workers_mu_);
  if (closed_) throw Failure(HAL_FAILED_PRECONDITION, "backend is closing");
  workers_.emplace_back(std::move(fn));
}

void MockBackend::track(const std::shared_ptr<MigrationJob> &job) {
  std::lock_guard lock(workers_mu_);
  std::erase_if(jobs_, [](const auto &weak) { return weak.expired(); });
  jobs_.push_back(job);
}

void MockBackend::slow() const {
  if (config_.faults.slow_calls_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(config_.faults.slow_calls_ms));
}

std::string MockBackend::capabilities() {
  json caps = {
      {"abiVersion", abi_version_string()},
      {"hypervisor", "mock"},
      {"accelerator", "none"},
      {"operations", json::parse(plugin::operations_json<MockBackend, MockVm>(abi_version()))},
      {"features",
       {{"liveMigration", true},
        {"migrationTls", true},
        {"numa", true},
        {"vcpuPinning", true},
        {"tdx", config_.tdx},
        {"console", false},
        {"snapshot", false},
        {"hotplug", false}}},
      {"limits",
       {{"maxVcpus", 512}, {"maxMemoryBytes", 16ull << 40}, {"maxVms", config_.max_vms}}}};
  return caps.dump();
}

std::string MockBackend::host_info() {
  return config_.host.dump();
}

CheckedSpec MockBackend::check_spec(std::string_view spec_json, const char *op) const {
  const std::string pre = std::string(op) + ": ";
  json spec = json::parse(spec_json, nullptr, false);
  if (spec.is_discarded()) invalid(pre + "spec: malformed JSON");
  if (!spec.is_object()) invalid(pre + "spec: must be an object");
  CheckedSpec out;
  if (!spec.contains("name") || !spec["name"].is_string() ||
      spec["name"].get<std::string>().empty())
    invalid(pre + "spec.name: required string");
  out.id = spec["name"].get<std::string>();
  if (out.id.size() > 63 || out.id.find_first_of("/\\. ") != std::string::npos)
    invalid(pre + "spec.name: must be a DNS-1123 label");
  const json *cpu = spec.contains("cpu") ? &spec["cpu"] : nullptr;
  if (!cpu || !cpu->is_object() || !cpu->contains("vcpus") ||
      !(*cpu)["vcpus"].is_number_integer() || (*cpu)["vcpus"].get<int64_t>() < 1)
    invalid(pre + "spec.cpu.vcpus: required positive integer");
  int64_t vcpus = (*cpu)["vcpus"].get<int64_t>();
  if (vcpus > 512)
    throw Failure(HAL_OUT_OF_RANGE,
                  pre + "spec.cpu.vcpus: " + std::to_string(vcpus) + " exceeds maxVcpus 512");
  if (!spec.contains("memory") || !spec["memory"].is_object() || !spec["memory"].contains("size"))
    invalid(pre + "spec.memory.size: required");
  out.memory_bytes = parse_quantity(spec["memory"]["size"]);
  if (out.memory_bytes == 0) invalid(pre + "spec.memory.size: must be a positive quantity");
  if (out.memory_bytes > (16ull << 40))
    throw Failure(HAL_OUT_OF_RANGE, pre + "spec.memory.size: exceeds maxMemory 16Ti");

  if (spec.contains("launchSecurity")) {
    const json &ls = spec["launchSecurity"];
    if (ls.is_object() && ls.value("type", "") == "tdx") {
      out.tdx = true;
      if (!config_.tdx)
        throw Failure(HAL_UNSUPPORTED,
                      "TDX: host does not support TDX (mock configured with tdx=false)");
    }
  }

  // Host facts.
  std::set<int64_t> host_nodes, host_cpus;
  for (const auto &node : config_.host["numaNodes"]) {
    host_nodes.insert(node["id"].get<int64_t>());
    for (const auto &c : node["cpus"]) host_cpus.insert(c.get<int64_t>());
  }
  std::set<std::string> pci;
  for (const auto &dev : config_.host.value("pciDevices", json::array()))
    pci.insert(dev["address"].get<std::string>());

  if (spec.contains("numa") && spec["numa"].is_object() && spec["numa"].contains("nodes")) {
    const json &nodes = spec["numa"]["nodes"];
    for (size_t i = 0; nodes.is_array() && i < nodes.size(); ++i) {
      if (!nodes[i].is_object() || !nodes[i].contains("hostNodes")) continue;
      const json &hn = nodes[i]["hostNodes"];
      for (size_t j = 0; hn.is_array() && j < hn.size(); ++j) {
        std::string path = idx(idx("spec.numa.nodes", i) + ".hostNodes", j);
        if (!hn[j].is_number_integer() || !host_nodes.count(hn[j].get<int64_t>()))
          invalid(pre + path + ": host NUMA node " + hn[j].dump() + " does not exist");
      }
    }
  }
  if (cpu->contains("pinning")) {
    const json &pins = (*cpu)["pinning"];
    for (size_t i = 0; pins.is_array() && i < pins.size(); ++i) {
      if (!pins[i].is_object() || !pins[i].contains("hostCpus")) continue;
      const json &hc = pins[i]["hostCpus"];
      for (size_t j = 0; hc.is_array() && j < hc.size(); ++j) {
        std::string path = idx(idx("spec.cpu.pinning", i) + ".hostCpus", j);
        if (!hc[j].is_number_integer() || !host_cpus.count(hc[j].get<int64_t>()))
          invalid(pre + path + ": host CPU " + hc[j].dump() + " does not exist");
      }
    }
  }
  if (spec.contains("hostDevices") && spec["hostDevices"].is_array()) {
    const json &devs = spec["hostDevices"];
    for (size_t i = 0; i < devs.size(); ++i) {
      if (!devs[i].is_object()) continue;
      std::string path = idx("spec.hostDevices", i);
      if (devs[i].value("type", "") == "pci") {
        std::string address = devs[i].value("pciAddress", "");
        if (!pci.count(address))
          invalid(pre + path + ".pciAddress: PCI device '" + address +
                  "' does not exist on the host");
      }
      if (devs[i].contains("hostNumaNode") &&
          (!devs[i]["hostNumaNode"].is_number_integer() ||
           !host_nodes.count(devs[i]["hostNumaNode"].get<int64_t>())))
        invalid(pre + path + ".hostNumaNode: host NUMA node " + devs[i]["hostNumaNode"].dump() +
                " does not exist");
    }
  }
  // Pinned like a real hypervisor's versioned machine type: reported in vm-info's spec.
  if (!spec.contains("machine") && !config_.machine.empty()) spec["machine"] = config_.machine;
  out.compact = spec.dump();
  return out;
}

std::unique_ptr<plugin::Vm> MockBackend::create_vm(std::string_view spec_json, uint32_t flags) {
  slow();
  CheckedSpec checked = check_spec(spec_json, "vm_create");
  if (store_->find(checked.id))
    throw Failure(HAL_ALREADY_EXISTS, "vm_create: VM '" + checked.id + "' already exists");
  if (flags & HAL_CREATE_VALIDATE_ONLY) return nullptr;
  if (static_cast<int64_t>(store_->size()) >= config_.max_vms)
    throw Failure(HAL_RESOURCE_EXHAUSTED,
                  "vm_create: the mock holds at most " + std::to_string(config_.max_vms) + " VMs");
  auto record = std::make_shared<VmRecord>();
  record->id = checked.id;
  record->spec = std::move(checked.compact);
  record->memory_bytes = checked.memory_bytes;
  record->tdx = checked.tdx;
  {
    std::lock_guard lock(record->mu);  // persist before anyone else can see it
    if (!store_->insert(record))
      throw Failure(HAL_ALREADY_EXISTS, "vm_create: VM '" + checked.id + "' already exists");
    store_->persist(*record);
  }
  auto vm = std::make_unique<MockVm>(*this, record);
  if (flags & HAL_CREATE_START) vm->start(0);
  return vm;
}

std::unique_ptr<plugin::Vm> MockBackend::lookup_vm(std::string_view vm_id) {
  auto record = store_->find(std::string(vm_id));
  if (!record) return nullptr;  // vm_lookup answers NOT_FOUND
  return std::make_unique<MockVm>(*this, record);
}

std::string MockBackend::list_vms() {
  auto records = store_->all();
  std::string out = "{\"vms\":[";
  out.reserve(records.size() * 40 + 16);
  bool first = true;
  for (const auto &record : records) {
    hal_vm_state state;
    {
      std::lock_guard lock(record->mu);
      if (record->deleted) continue;
      state = record->state;
    }
    if (!first) out += ',';
    first = false;
    out += "{\"id\":";
    out += json(record->id).dump();
    out += ",\"state\":\"";
    out += state_name(state);
    out += "\"}";
  }
  out += "]}";
  return out;
}

void MockBackend::set_state(VmRecord &record, hal_vm_state state, const std::string &reason,
                            std::vector<PendingEvent> &events) {
  record.state = state;
  store_->persist(record);
  events.push_back({HAL_EVENT_STATE_CHANGED, state, {{"reason", reason}}});
}

void MockBackend::deliver(std::unique_lock<std::mutex> &vm_lock, const std::string &id,
                          std::vector<PendingEvent> &events) {
  std::unique_lock event_lock(event_mu_);  // keeps per-backend order once the VM lock is gone
  if (vm_lock.owns_lock()) vm_lock.unlock();
  for (const auto &event : events)
    events_.emit(event.type, id, event.state, event.detail.is_null() ? "" : event.detail.dump());
  events.clear();
}

bool MockBackend::take_start_fault(const std::string &id) {
  if (config_.faults.fail_start.count(id)) return true;
  int64_t left = fail_start_left_.load();
  while (left > 0)
    if (fail_start_left_.compare_exchange_weak(left, left - 1)) return true;
  return false;
}

void MockBackend::arm_crash(const std::shared_ptr<VmRecord> &record) {
  if (config_.faults.crash_after_ms <= 0) return;
  arm_crash_after(record, record->generation, config_.faults.crash_after_ms);
}

void MockBackend::rearm_crashes() {
  if (config_.faults.crash_after_ms <= 0) return;
  for (const auto &record : store_->all()) {
    std::lock_guard lock(record->mu);
    if (record->deleted || !record->guest_up()) continue;
    const int64_t since_start = record->run_ms() - record->boot_at_run_ms;
    arm_crash_after(record, record->generation,
                    std::max<int64_t>(0, config_.faults.crash_after_ms - since_start));
  }
}

void MockBackend::arm_crash_after(const std::shared_ptr<VmRecord> &record, uint64_t generation,
                                  int64_t delay_ms) {
  std::weak_ptr<VmRecord> weak = record;
  timers_.after(delay_ms, [this, weak, generation] {
    auto r = weak.lock();
    if (!r) return;
    std::unique_lock lock(r->mu);
    if (r->deleted || r->generation != generation || !r->guest_up()) return;
    if (r->migration) r->migration->cancel = true;
    r->clock_stop();
    std::vector<PendingEvent> events;
    events.push_back({HAL_EVENT_GUEST_CRASHED,
                      HAL_VM_STATE_CRASHED,
                      {{"reason", "guest panic (injected fault: faults.crashAfterMs)"}}});
    set_state(*r, HAL_VM_STATE_CRASHED, "guest crashed", events);
    deliver(lock, r->id, events);
  });
}

void MockBackend::arm_acpi_power_off(const std::shared_ptr<VmRecord> &record, int64_t delay_ms) {
  uint64_t generation = record->generation;
  std::weak_ptr<VmRecord> weak = record;
  timers_.after(std::max<int64_t>(delay_ms, 0), [this, weak, generation] {
    auto r = weak.lock();
    if (!r) return;
    std::unique_lock lock(r->mu);
    if (r->deleted || r->generation != generation || r->state != HAL_VM_STATE_SHUTTING_DOWN) return;
    r->clock_stop();
    std::vector<PendingEvent> events;
    set_state(*r, HAL_VM_STATE_STOPPED, "guest powered off (ACPI)", events);
    deliver(lock, r->id, events);
  });
}

}  // namespace hal::mock
