// ch_backend.cc - ChBackend (open/close, VM table, capabilities, host info) and the ChVm handle.
#include "backends/cloud-hypervisor/ch_backend.h"

#include <unistd.h>

#include <filesystem>

#include "backends/cloud-hypervisor/vm_config.h"
#include "backends/common/private_dir.h"
#include "backends/common/resolve_binary.h"
#include "backends/common/state_files.h"
#include "core/host/host_topology.h"
#include "core/spec/vm_spec.h"
#include "hal/names.h"

namespace hal::cloud_hypervisor {
namespace fs = std::filesystem;
using hal::plugin::Failure;
using nlohmann::json;

BackendConfig parse_backend_config(std::string_view json_text) {
  BackendConfig config;
  json doc = json::parse(json_text.empty() ? "{}" : json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw Failure(HAL_INVALID_ARGUMENT, "cloud-hypervisor config: not a JSON object");
  }
  for (const auto &item : doc.items()) {
    if (item.key() == "verbose") {
      if (!item.value().is_boolean()) {
        throw Failure(HAL_INVALID_ARGUMENT, "cloud-hypervisor config.verbose: must be a boolean");
      }
      config.verbose = item.value().get<bool>();
      continue;
    }
    std::string *target = nullptr;
    if (item.key() == "binary") target = &config.binary;
    if (item.key() == "stateDir") target = &config.state_dir;
    if (item.key() == "hostRoot") target = &config.host_root;
    if (item.key() == "firmware") target = &config.firmware;
    if (item.key() == "serialDir") target = &config.serial_dir;
    if (target == nullptr) {
      throw Failure(
          HAL_INVALID_ARGUMENT,
          "cloud-hypervisor config." + item.key() +
              ": unknown field (known: binary, stateDir, serialDir, hostRoot, firmware, verbose)");
    }
    if (!item.value().is_string() || item.value().get<std::string>().empty()) {
      throw Failure(HAL_INVALID_ARGUMENT,
                    "cloud-hypervisor config." + item.key() + ": must be a non-empty string");
    }
    *target = item.value().get<std::string>();
  }
  return config;
}

// ---- handle ----------------------------------------------------------------------------------

ChVm::ChVm(std::shared_ptr<VmController> vm, std::shared_ptr<std::atomic<int>> handles,
           std::function<void(const std::string &)> on_deleted)
    : vm_(std::move(vm)), handles_(std::move(handles)), on_deleted_(std::move(on_deleted)) {
  ++*handles_;
}
ChVm::~ChVm() {
  --*handles_;
}
void ChVm::start(uint32_t flags) {
  vm_->start(flags);
}
void ChVm::force_stop() {
  vm_->force_stop();
}
void ChVm::remove(uint32_t /*flags: the backend creates no disks*/) {
  vm_->remove();
  on_deleted_(vm_->id());
}
hal_vm_state ChVm::state() {
  return vm_->state();
}
std::string ChVm::info() {
  return vm_->info();
}
void ChVm::pause() {
  vm_->pause();
}
void ChVm::resume() {
  vm_->resume();
}
void ChVm::shutdown(uint32_t timeout_ms, uint32_t flags) {
  vm_->shutdown(timeout_ms, flags);
}
void ChVm::reboot() {
  vm_->reboot();
}
std::string ChVm::console() {
  return vm_->console();
}
void ChVm::migration_send(std::string_view params_json) {
  vm_->migration_send(params_json);
}
std::string ChVm::migration_progress() {
  return vm_->migration_progress();
}
void ChVm::migration_cancel() {
  vm_->migration_cancel();
}
void ChVm::attach_device(std::string_view device_json) {
  vm_->attach_device(device_json);
}
void ChVm::detach_device(std::string_view device_name) {
  vm_->detach_device(device_name);
}

// ---- backend ---------------------------------------------------------------------------------

ChBackend::ChBackend(std::string_view config_json, hal::plugin::EventSink events) {
  BackendConfig config = parse_backend_config(config_json);
  auto settings = std::make_shared<BackendSettings>();
  settings->state_root = config.state_dir.empty()
                             ? backend_common::default_state_root("cloud-hypervisor")
                             : fs::path(config.state_dir);
  settings->binary = backend_common::resolve_binary(config.binary);
  if (settings->binary.empty()) {
    throw Failure(HAL_UNAVAILABLE, "cloud-hypervisor: binary '" + config.binary +
                                       "' not found or not executable (config.binary)");
  }
  settings->serial_dir = config.serial_dir.empty()
                             ? settings->state_root.parent_path() / "cloud-hypervisor-serial"
                             : fs::path(config.serial_dir);
  settings->host_root = config.host_root;
  settings->default_firmware = config.firmware;
  settings->verbose = config.verbose;
  settings->events = events;
  try {
    backend_common::create_private_dir(settings->state_root);
  } catch (const std::exception &e) {
    throw Failure(HAL_PERMISSION_DENIED,
                  std::string("cloud-hypervisor: cannot create stateDir: ") + e.what());
  }
  settings->probe = probe_binary(
      settings->binary, settings->state_root / (".probe-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(reinterpret_cast<uintptr_t>(this))));
  if (!settings->probe.ok) throw Failure(HAL_UNAVAILABLE, settings->probe.error);
  settings_ = settings;
  adopt_existing();
}

ChBackend::~ChBackend() {
  std::map<std::string, std::shared_ptr<VmController>> vms;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    vms.swap(vms_);
  }
  for (auto &[id, vm] : vms) vm->detach();
}

void ChBackend::adopt_existing() {
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(settings_->state_root, ec)) {
    if (!entry.is_directory(ec)) continue;
    const VmStateDir dir(entry.path());
    auto text = backend_common::read_file(dir.spec_file());
    if (!text) continue;
    json spec_json = json::parse(*text, nullptr, false);
    if (spec_json.is_discarded()) continue;
    VmSpec spec;
    try {
      spec = parse_vm_spec(spec_json);
    } catch (const std::exception &) {
      continue;
    }
    if (spec.name != entry.path().filename().string()) continue;
    auto vm = std::make_shared<VmController>(settings_, std::move(spec), std::move(spec_json));
    vm->restore_from_disk();
    std::lock_guard<std::mutex> lock(mutex_);
    vms_.emplace(vm->id(), vm);
  }
}

void ChBackend::close(uint32_t flags) {
  if (*handles_ != 0) {
    throw Failure(HAL_FAILED_PRECONDITION,
                  "close: " + std::to_string(handles_->load()) + " VM handle(s) still unreleased");
  }
  std::map<std::string, std::shared_ptr<VmController>> vms;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    vms.swap(vms_);
  }
  for (auto &[id, vm] : vms) {
    if (flags & HAL_CLOSE_STOP_VMS) {
      try {
        vm->force_stop();
      } catch (const std::exception &) {
      }
    }
    vm->detach();
  }
}

std::string ChBackend::capabilities() {
  const bool tdx = tdx_missing(settings_->host_root, settings_->probe).empty();
  json doc = {
      {"abiVersion", hal::plugin::negotiated_version()},
      {"hypervisor", "cloud-hypervisor"},
      {"accelerator", accelerator_of(settings_->probe)},
      {"operations", json::parse(hal::plugin::operations_json<ChBackend, ChVm>())},
      {"features",
       {{"liveMigration", true},
        {"postCopy", false},
        {"numa", true},
        {"vcpuPinning", true},
        {"hugepages", true},
        {"pciPassthrough", true},
        {"tdx", tdx},
        {"console", true},
        {"snapshot", false},
        {"hotplug", true}}},
      {"limits", {{"maxVcpus", 8192}, {"maxNumaNodes", 95}, {"maxDisks", 64}, {"maxNics", 32}}}};
  return doc.dump();
}

std::string ChBackend::host_info() {
  HostTopology topology = discover_host_topology(settings_->host_root);
  if (topology.online_cpus.empty()) {
    throw Failure(HAL_UNAVAILABLE,
                  "get_host_info: cannot read host CPUs under " + settings_->host_root.string());
  }
  topology.accelerator = accelerator_of(settings_->probe);
  const std::string missing = tdx_missing(settings_->host_root, settings_->probe);
  topology.tdx.supported = missing.empty();
  topology.tdx.reason = missing;
  return host_info_json(topology).dump();
}

std::shared_ptr<VmController> ChBackend::define(std::string_view spec_json, bool validate_only) {
  json doc = json::parse(spec_json, nullptr, false);
  if (doc.is_discarded()) throw Failure(HAL_INVALID_ARGUMENT, "spec: not valid JSON");
  VmSpec spec;
  try {
    spec = parse_vm_spec(doc);
  } catch (const std::exception &e) {
    throw Failure(HAL_INVALID_ARGUMENT, e.what());
  }
  if (spec.launch_security.type == LaunchSecurityType::kTdx) {
    if (std::string missing = tdx_missing(settings_->host_root, settings_->probe);
        !missing.empty()) {
      throw Failure(HAL_UNSUPPORTED, "spec.launchSecurity: " + missing);
    }
  }
  // Everything the VmConfig cannot express fails now, not at start.
  VmConfigOptions options;
  options.serial_socket = "/validate";
  options.host = discover_host_topology(settings_->host_root);
  options.default_firmware = settings_->default_firmware;
  build_vm_config(spec, options);
  if (validate_only) return nullptr;

  std::lock_guard<std::mutex> lock(mutex_);
  if (vms_.count(spec.name)) {
    throw Failure(HAL_ALREADY_EXISTS, "VM '" + spec.name + "' already exists");
  }
  const VmStateDir dir(settings_->state_root, spec.name);
  if (dir.exists()) {
    throw Failure(HAL_ALREADY_EXISTS, "VM '" + spec.name + "': state directory " +
                                          dir.dir().string() + " already exists");
  }
  try {
    dir.create();
    backend_common::write_file_atomic(dir.spec_file(), doc.dump(2));
  } catch (const std::exception &e) {
    dir.remove();
    throw Failure(HAL_PERMISSION_DENIED,
                  std::string("cannot create the VM state dir: ") + e.what());
  }
  auto vm = std::make_shared<VmController>(settings_, std::move(spec), std::move(doc));
  vms_.emplace(vm->id(), vm);
  return vm;
}

std::unique_ptr<hal::plugin::Vm> ChBackend::make_handle(std::shared_ptr<VmController> vm) {
  return std::make_unique<ChVm>(std::move(vm), handles_,
                                [this](const std::string &id) { forget(id); });
}

void ChBackend::forget(const std::string &id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(id);
  if (it != vms_.end() && it->second->deleted()) vms_.erase(it);
}

std::unique_ptr<hal::plugin::Vm> ChBackend::create_vm(std::string_view spec_json, uint32_t flags) {
  std::shared_ptr<VmController> vm = define(spec_json, flags & HAL_CREATE_VALIDATE_ONLY);
  if (!vm) return nullptr;
  if (flags & HAL_CREATE_START) {
    try {
      vm->start(0);
    } catch (...) {
      try {
        vm->remove();
      } catch (const std::exception &) {
      }
      forget(vm->id());
      throw;
    }
  }
  return make_handle(std::move(vm));
}

std::unique_ptr<hal::plugin::Vm> ChBackend::lookup_vm(std::string_view vm_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(std::string(vm_id));
  if (it == vms_.end()) throw Failure(HAL_NOT_FOUND, "VM '" + std::string(vm_id) + "' not found");
  return std::make_unique<ChVm>(it->second, handles_,
                                [this](const std::string &id) { forget(id); });
}

std::string ChBackend::list_vms() {
  std::vector<std::shared_ptr<VmController>> vms;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &[id, vm] : vms_) vms.push_back(vm);
  }
  json list = json::array();
  for (auto &vm : vms) {
    try {
      list.push_back({{"id", vm->id()}, {"state", hal_vm_state_name(vm->state())}});
    } catch (const Failure &) {
    }
  }
  return json({{"vms", list}}).dump();
}

std::unique_ptr<hal::plugin::Vm> ChBackend::prepare_incoming(std::string_view spec_json,
                                                             std::string_view params_json,
                                                             std::string &out_endpoint_json) {
  json doc = json::parse(spec_json, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("launchSecurity") &&
      doc["launchSecurity"].is_object() && doc["launchSecurity"].value("type", "") == "tdx") {
    throw Failure(HAL_UNSUPPORTED,
                  "migration_prepare_incoming: TDX VMs cannot be live-migrated "
                  "(spec.launchSecurity)");
  }
  std::shared_ptr<VmController> vm = define(spec_json, false);
  try {
    MigrationParams params = parse_migration_params(params_json, vm->spec().migration);
    out_endpoint_json = vm->start_incoming(params);
  } catch (...) {
    try {
      vm->remove();
    } catch (const std::exception &) {
    }
    forget(vm->id());
    throw;
  }
  return make_handle(std::move(vm));
}

}  // namespace hal::cloud_hypervisor
