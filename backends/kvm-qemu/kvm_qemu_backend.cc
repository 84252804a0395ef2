// kvm_qemu_backend.cc - KvmQemuBackend (open/close, VM table, capabilities, host info) and the
// KvmQemuVm handle forwarding to VmController.
#include "backends/kvm-qemu/kvm_qemu_backend.h"

#include <filesystem>

#include "backends/common/private_dir.h"
#include "backends/common/resolve_binary.h"
#include "backends/common/state_files.h"
#include "backends/kvm-qemu/accelerator.h"
#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/machine_type.h"
#include "backends/kvm-qemu/migration.h"
#include "backends/kvm-qemu/qemu_probe.h"
#include "core/host/host_topology.h"
#include "core/spec/vm_spec.h"
#include "hal/names.h"

namespace hal::kvm_qemu {
namespace fs = std::filesystem;
using hal::plugin::Failure;

// ---- configuration ---------------------------------------------------------------------------

BackendConfig parse_backend_config(std::string_view json_text) {
  BackendConfig config;
  nlohmann::json doc = nlohmann::json::parse(json_text.empty() ? "{}" : json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw Failure(HAL_INVALID_ARGUMENT, "kvm-qemu config: not a JSON object");
  }
  for (const auto &item : doc.items()) {
    std::string *target = nullptr;
    if (item.key() == "stateDir") target = &config.state_dir;
    if (item.key() == "qemuBinary") target = &config.qemu_binary;
    if (item.key() == "accelerator") target = &config.accelerator;
    if (item.key() == "hostRoot") target = &config.host_root;
    if (target == nullptr) {
      throw Failure(HAL_INVALID_ARGUMENT,
                    "kvm-qemu config." + item.key() +
                        ": unknown field (known: stateDir, qemuBinary, accelerator, hostRoot)");
    }
    if (!item.value().is_string() || item.value().get<std::string>().empty()) {
      throw Failure(HAL_INVALID_ARGUMENT,
                    "kvm-qemu config." + item.key() + ": must be a non-empty string");
    }
    *target = item.value().get<std::string>();
  }
  if (config.accelerator != "auto" && config.accelerator != "kvm" && config.accelerator != "tcg") {
    throw Failure(
        HAL_INVALID_ARGUMENT,
        "kvm-qemu config.accelerator: must be auto, kvm or tcg, not '" + config.accelerator + "'");
  }
  return config;
}

// ---- handle ----------------------------------------------------------------------------------

KvmQemuVm::KvmQemuVm(std::shared_ptr<VmController> vm, std::shared_ptr<std::atomic<int>> handles,
                     std::function<void(const std::string &)> on_deleted)
    : vm_(std::move(vm)), handles_(std::move(handles)), on_deleted_(std::move(on_deleted)) {
  ++*handles_;
}
KvmQemuVm::~KvmQemuVm() {
  --*handles_;
}

void KvmQemuVm::start(uint32_t flags) {
  vm_->start(flags);
}
void KvmQemuVm::force_stop() {
  vm_->force_stop();
}
void KvmQemuVm::remove(uint32_t /*flags: the backend creates no disks*/) {
  vm_->remove();
  on_deleted_(vm_->id());
}
hal_vm_state KvmQemuVm::state() {
  return vm_->state();
}
std::string KvmQemuVm::info() {
  return vm_->info();
}
void KvmQemuVm::pause() {
  vm_->pause();
}
void KvmQemuVm::resume() {
  vm_->resume();
}
void KvmQemuVm::shutdown(uint32_t timeout_ms, uint32_t flags) {
  vm_->shutdown(timeout_ms, flags);
}
void KvmQemuVm::reboot() {
  vm_->reboot();
}
void KvmQemuVm::reset() {
  vm_->reset();
}
std::string KvmQemuVm::console() {
  return vm_->console();
}
void KvmQemuVm::migration_send(std::string_view params_json) {
  vm_->migration_send(params_json);
}
std::string KvmQemuVm::migration_progress() {
  return vm_->migration_progress();
}
void KvmQemuVm::migration_cancel() {
  vm_->migration_cancel();
}

// ---- backend ---------------------------------------------------------------------------------

KvmQemuBackend::KvmQemuBackend(std::string_view config_json, hal::plugin::EventSink events) {
  BackendConfig config = parse_backend_config(config_json);
  auto settings = std::make_shared<BackendSettings>();
  settings->state_root = config.state_dir.empty() ? backend_common::default_state_root("kvm-qemu")
                                                  : fs::path(config.state_dir);
  settings->host_root = config.host_root;
  settings->events = events;
  settings->qemu_binary = config.qemu_binary;
  if (backend_common::resolve_binary(config.qemu_binary).empty()) {
    throw Failure(HAL_UNAVAILABLE, "kvm-qemu: QEMU binary '" + config.qemu_binary +
                                       "' not found or not executable (config.qemuBinary)");
  }
  const AcceleratorChoice choice = choose_accelerator(config.accelerator, [&] {
    return kvm_refusal(config.qemu_binary, settings->state_root, settings->host_root);
  });
  settings->accelerator = choice.accelerator;
  settings->accelerator_reason = choice.reason;
  try {
    backend_common::create_private_dir(settings->state_root);
  } catch (const std::exception &e) {
    throw Failure(HAL_PERMISSION_DENIED,
                  std::string("kvm-qemu: cannot create stateDir: ") + e.what());
  }
  settings_ = settings;
  adopt_existing();
}

KvmQemuBackend::~KvmQemuBackend() {
  std::map<std::string, std::shared_ptr<VmController>> vms;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    vms.swap(vms_);
  }
  for (auto &[id, vm] : vms) vm->detach();
}

void KvmQemuBackend::adopt_existing() {
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(settings_->state_root, ec)) {
    if (!entry.is_directory(ec)) continue;
    const VmStateDir dir(entry.path());
    auto text = backend_common::read_file(dir.spec_file());
    if (!text) continue;
    nlohmann::json spec_json = nlohmann::json::parse(*text, nullptr, false);
    if (spec_json.is_discarded()) continue;
    VmSpec spec;
    try {
      spec = parse_vm_spec(spec_json);
    } catch (const std::exception &) {
      continue;  // not ours / unreadable: leave it alone
    }
    if (spec.name != entry.path().filename().string()) continue;
    auto vm = std::make_shared<VmController>(settings_, std::move(spec), std::move(spec_json));
    vm->restore_from_disk();
    std::lock_guard<std::mutex> lock(mutex_);
    vms_.emplace(vm->id(), vm);
  }
}

void KvmQemuBackend::close(uint32_t flags) {
  if (*handles_ != 0) {
    throw Failure(HAL_FAILED_PRECONDITION,
                  "close: " + std::to_string(handles_->load()) + " VM handle(s) still unreleased");
  }
  std::map<std::string, std::shared_ptr<VmController>> vms;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    vms.swap(vms_);
    closed_ = true;
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

std::string KvmQemuBackend::capabilities() {
  const QemuFeatures qemu = probe_qemu(settings_->qemu_binary, settings_->state_root);
  const bool tdx = tdx_missing(settings_->host_root, settings_->accelerator, qemu).empty();
  nlohmann::json doc = {
      {"abiVersion", hal::plugin::negotiated_version()},
      {"hypervisor", "qemu"},
      {"accelerator", settings_->accelerator},
      {"acceleratorReason", settings_->accelerator_reason},
      {"operations",
       nlohmann::json::parse(hal::plugin::operations_json<KvmQemuBackend, KvmQemuVm>())},
      {"features",
       {{"liveMigration", true},
        {"postCopy", true},
        {"numa", true},
        {"vcpuPinning", true},
        {"hugepages", true},
        {"pciPassthrough", true},
        {"tdx", tdx},
        {"console", true},
        {"snapshot", false},
        {"hotplug", false}}},
      {"limits", {{"maxVcpus", 288}, {"maxNumaNodes", 128}, {"maxDisks", 64}, {"maxNics", 32}}}};
  return doc.dump();
}

std::string KvmQemuBackend::host_info() {
  HostTopology topology = discover_host_topology(settings_->host_root);
  if (topology.online_cpus.empty()) {
    throw Failure(HAL_UNAVAILABLE,
                  "get_host_info: cannot read host CPUs under " + settings_->host_root.string());
  }
  topology.accelerator = settings_->accelerator;
  const QemuFeatures qemu = probe_qemu(settings_->qemu_binary, settings_->state_root);
  const std::string missing = tdx_missing(settings_->host_root, settings_->accelerator, qemu);
  topology.tdx.supported = missing.empty();
  topology.tdx.reason = missing;
  return host_info_json(topology).dump();
}

std::shared_ptr<VmController> KvmQemuBackend::define(std::string_view spec_json,
                                                     bool validate_only) {
  nlohmann::json doc = nlohmann::json::parse(spec_json, nullptr, false);
  if (doc.is_discarded()) throw Failure(HAL_INVALID_ARGUMENT, "spec: not valid JSON");
  VmSpec spec;
  try {
    spec = parse_vm_spec(doc);
  } catch (const std::exception &e) {
    throw Failure(HAL_INVALID_ARGUMENT, e.what());
  }
  const QemuFeatures qemu = probe_qemu(settings_->qemu_binary, settings_->state_root);
  if (spec.launch_security.type == LaunchSecurityType::kTdx) {
    if (std::string missing = tdx_missing(settings_->host_root, settings_->accelerator, qemu);
        !missing.empty()) {
      throw Failure(HAL_UNSUPPORTED, missing);
    }
  }
  // Pinned for the VM's life: the spec kept in its state dir names the versioned machine.
  spec.machine = resolve_machine(spec.machine, qemu);
  doc["machine"] = spec.machine;
  // Everything the command line cannot express fails now, not at start.
  LaunchOptions options;
  options.accelerator = settings_->accelerator;
  options.qmp_socket = options.console_socket = "/validate";
  // Host NUMA nodes / CPUs the spec names must exist on this host (checked by build_qemu_argv).
  options.host = discover_host_topology(settings_->host_root);
  build_qemu_argv(spec, options);
  for (const VcpuPin &pin : spec.cpu.pinning) {
    if (pin.vcpu >= spec.cpu.vcpus) {
      throw Failure(HAL_INVALID_ARGUMENT,
                    "spec.cpu.pinning: vCPU " + std::to_string(pin.vcpu) + " does not exist");
    }
  }
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

std::unique_ptr<hal::plugin::Vm> KvmQemuBackend::make_handle(std::shared_ptr<VmController> vm) {
  return std::make_unique<KvmQemuVm>(std::move(vm), handles_,
                                     [this](const std::string &id) { forget(id); });
}

void KvmQemuBackend::forget(const std::string &id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(id);
  if (it != vms_.end() && it->second->deleted()) vms_.erase(it);
}

std::unique_ptr<hal::plugin::Vm> KvmQemuBackend::create_vm(std::string_view spec_json,
                                                           uint32_t flags) {
  std::shared_ptr<VmController> vm = define(spec_json, flags & HAL_CREATE_VALIDATE_ONLY);
  if (!vm) return nullptr;
  if (flags & HAL_CREATE_START) {
    try {
      vm->start(0);
    } catch (...) {
      // The caller gets no handle: do not leave a half-created VM behind.
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

std::unique_ptr<hal::plugin::Vm> KvmQemuBackend::lookup_vm(std::string_view vm_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = vms_.find(std::string(vm_id));
  if (it == vms_.end()) throw Failure(HAL_NOT_FOUND, "VM '" + std::string(vm_id) + "' not found");
  return std::make_unique<KvmQemuVm>(it->second, handles_,
                                     [this](const std::string &id) { forget(id); });
}

std::string KvmQemuBackend::list_vms() {
  std::vector<std::shared_ptr<VmController>> vms;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &[id, vm] : vms_) vms.push_back(vm);
  }
  nlohmann::json list = nlohmann::json::array();
  for (auto &vm : vms) {
    try {
      list.push_back({{"id", vm->id()}, {"state", hal_vm_state_name(vm->state())}});
    } catch (const Failure &) {
      // deleted meanwhile
    }
  }
  return nlohmann::json({{"vms", list}}).dump();
}

std::unique_ptr<hal::plugin::Vm> KvmQemuBackend::prepare_incoming(std::string_view spec_json,
                                                                  std::string_view params_json,
                                                                  std::string &out_endpoint_json) {
  // TDX refuses migration before anything is defined.
  nlohmann::json doc = nlohmann::json::parse(spec_json, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("launchSecurity") &&
      doc["launchSecurity"].is_object() && doc["launchSecurity"].value("type", "") == "tdx") {
    throw Failure(
        HAL_UNSUPPORTED,
        "migration_prepare_incoming: TDX VMs cannot be live-migrated (spec.launchSecurity)");
  }
  std::shared_ptr<VmController> vm = define(spec_json, false);
  MigrationParams params;
  try {
    params = parse_migration_params(params_json, vm->spec().migration);
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

}  // namespace hal::kvm_qemu
