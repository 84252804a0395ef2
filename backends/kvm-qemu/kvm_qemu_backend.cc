// kvm_qemu_backend.cc - KvmQemuBackend: open (config, QEMU, accelerator, re-adoption),
// capabilities, host info, and the QEMU side of defining a VM; the VM table and the handle's
// shape come from backends/common/vm_table.h.
#include "backends/kvm-qemu/kvm_qemu_backend.h"

#include <unistd.h>

#include <filesystem>

#include "backends/common/backend_config.h"
#include "backends/common/private_dir.h"
#include "backends/common/resolve_binary.h"
#include "backends/common/vm_specs.h"
#include "backends/kvm-qemu/accelerator.h"
#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/machine_type.h"
#include "backends/kvm-qemu/migration.h"
#include "backends/kvm-qemu/qemu_probe.h"
#include "backends/kvm-qemu/run_as.h"
#include "core/host/host_topology.h"
#include "core/spec/vm_spec.h"

namespace hal::kvm_qemu {
namespace fs = std::filesystem;
using hal::plugin::Failure;

// ---- configuration ---------------------------------------------------------------------------

BackendConfig parse_backend_config(std::string_view json_text) {
  backend_common::ConfigReader reader("kvm-qemu", json_text);
  BackendConfig config;
  config.state_dir = reader.string("stateDir");
  config.qemu_binary = reader.string("qemuBinary", config.qemu_binary);
  config.accelerator = reader.one_of("accelerator", config.accelerator, {"auto", "kvm", "tcg"});
  config.host_root = reader.string("hostRoot", config.host_root);
  if (std::string run_as = reader.string("runAs"); !run_as.empty()) config.run_as = run_as;
  reader.refuse_unknown();
  return config;
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
  settings->run_as = choose_run_as(config.run_as, ::geteuid());
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
  vms().adopt_stored(settings_->state_root, [&](backend_common::StoredVm &&stored) {
    return std::make_shared<VmController>(settings_, std::move(stored.spec.spec));
  });
}

std::string KvmQemuBackend::capabilities() {
  const QemuFeatures qemu = probe_qemu(settings_->qemu_binary, settings_->state_root);
  const bool tdx = tdx_missing(settings_->host_root, settings_->accelerator, qemu).empty();
  nlohmann::json doc = {
      {"abiVersion", abi_version_string()},
      {"hypervisor", "qemu"},
      {"accelerator", settings_->accelerator},
      {"acceleratorReason", settings_->accelerator_reason},
      {"operations", nlohmann::json::parse(
                         hal::plugin::operations_json<KvmQemuBackend, KvmQemuVm>(abi_version()))},
      {"features",
       {{"liveMigration", true},
        {"migrationTls", true},
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
  backend_common::ParsedSpec parsed = backend_common::parse_spec(spec_json);
  nlohmann::json &doc = parsed.doc;
  VmSpec &spec = parsed.spec;
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

  return vms().define(spec.name, VmStateDir(settings_->state_root, spec.name), doc,
                      [&] { return std::make_shared<VmController>(settings_, std::move(spec)); });
}

std::unique_ptr<hal::plugin::Vm> KvmQemuBackend::prepare_incoming(std::string_view spec_json,
                                                                  std::string_view params_json,
                                                                  std::string &out_endpoint_json) {
  return define_incoming(spec_json, [&](VmController &vm) {
    out_endpoint_json = vm.start_incoming(parse_migration_params(params_json, vm.spec().migration));
  });
}

}  // namespace hal::kvm_qemu
