// memvisor_backend.cc - memvisor's backend instance (see memvisor_backend.h).
#include "memvisor_backend.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "memvisor_vm.h"
#include "spec_check.h"

namespace memvisor {

using hal::plugin::Failure;
using nlohmann::json;

MemBackend::MemBackend(std::string_view config_json, hal::plugin::EventSink events) {
  json config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    throw Failure(HAL_INVALID_ARGUMENT, "config: must be a JSON object");
  }
  std::string instance = "default";
  for (const auto &[key, value] : config.items()) {
    if (key != "instance") throw Failure(HAL_INVALID_ARGUMENT, "config." + key + ": unknown key");
    if (!value.is_string() || value.get<std::string>().empty()) {
      throw Failure(HAL_INVALID_ARGUMENT, "config.instance: must be a non-empty string");
    }
    instance = value.get<std::string>();
  }
  store_ = &Store::of(instance);
  sink_ = store_->add_sink(events);
}

void MemBackend::close(uint32_t flags) {
  if (int open = handles_.load(); open > 0) {
    throw Failure(HAL_FAILED_PRECONDITION,
                  "close: " + std::to_string(open) + " VM handle(s) are not released");
  }
  if (flags & HAL_CLOSE_STOP_VMS) {
    std::lock_guard lock(store_->mu);
    for (auto &[id, vm] : store_->vms) {
      if (vm->state != HAL_VM_STATE_STOPPED && vm->state != HAL_VM_STATE_MIGRATED) {
        store_->set_state(*vm, HAL_VM_STATE_STOPPED, "backend closed with HAL_CLOSE_STOP_VMS");
      }
    }
  }
  // Events are emitted under the store's mutex, which remove_sink takes: once it returns, no
  // delivery to this backend's callback is running or can start (hal.h, close).
  store_->remove_sink(sink_);
}

std::string MemBackend::capabilities() {
  json doc = {
      {"abiVersion", abi_version_string()},  // the version this backend was opened with (LC-002)
      {"hypervisor", "memvisor"},
      {"accelerator", "none"},
      {"operations", json::parse(hal::plugin::operations_json<MemBackend, MemVm>(abi_version()))},
      {"features",
       {{"liveMigration", false},
        {"numa", false},
        {"vcpuPinning", false},
        {"tdx", false},
        {"console", false}}},
      {"limits", {{"maxVcpus", kMaxVcpus}}}};
  return doc.dump();
}

std::string MemBackend::host_info() {
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  json cpu_list = json::array();
  for (int i = 0; i < cpus; ++i) cpu_list.push_back(i);
  const int64_t memory = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE);
  json doc = {{"cpus", cpus},
              {"onlineCpus", cpu_list},
              {"memory", memory},
              {"numaNodes", {{{"id", 0}, {"cpus", cpu_list}, {"memory", memory}}}},
              {"pciDevices", json::array()},
              {"tdx", {{"supported", false}, {"reason", "memvisor has no TDX module"}}},
              {"accelerator", "none"}};
  return doc.dump();
}

std::unique_ptr<hal::plugin::Vm> MemBackend::create_vm(std::string_view spec_json, uint32_t flags) {
  json spec = check_spec(spec_json);
  const std::string id = spec["name"].get<std::string>();
  std::lock_guard lock(store_->mu);
  if (store_->vms.count(id) != 0) {
    throw Failure(HAL_ALREADY_EXISTS, "vm_create: VM '" + id + "' already exists");
  }
  if (flags & HAL_CREATE_VALIDATE_ONLY) return nullptr;
  auto vm = std::make_shared<VmRecord>();
  vm->id = id;
  vm->spec_json = spec.dump();
  store_->vms.emplace(id, vm);  // defined STOPPED: no event (hal.h, vm_create)
  if (flags & HAL_CREATE_START) {
    Store::boot(*vm);
    store_->set_state(*vm, HAL_VM_STATE_RUNNING, "started");
  }
  return std::make_unique<MemVm>(*store_, vm, handles_);
}

std::unique_ptr<hal::plugin::Vm> MemBackend::lookup_vm(std::string_view vm_id) {
  std::lock_guard lock(store_->mu);
  auto it = store_->vms.find(std::string(vm_id));
  if (it == store_->vms.end()) return nullptr;  // plugin.hpp answers NOT_FOUND naming the id
  return std::make_unique<MemVm>(*store_, it->second, handles_);
}

std::string MemBackend::list_vms() {
  std::lock_guard lock(store_->mu);
  json vms = json::array();
  for (const auto &[id, vm] : store_->vms) {
    vms.push_back({{"id", id}, {"state", state_name(vm->state)}});
  }
  return json{{"vms", vms}}.dump();
}

}  // namespace memvisor
