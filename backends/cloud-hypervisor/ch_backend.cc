// ch_backend.cc - ChBackend: open (config, the VMM binary and its probe, re-adoption),
// capabilities, host info, and the Cloud Hypervisor side of defining a VM; the VM table and the
// handle's shape come from backends/common/vm_table.h.
#include "backends/cloud-hypervisor/ch_backend.h"

#include <unistd.h>

#include <filesystem>

#include "backends/cloud-hypervisor/vm_config.h"
#include "backends/common/backend_config.h"
#include "backends/common/private_dir.h"
#include "backends/common/resolve_binary.h"
#include "backends/common/vm_specs.h"
#include "core/host/host_topology.h"
#include "core/spec/vm_spec.h"

namespace hal::cloud_hypervisor {
namespace fs = std::filesystem;
using hal::plugin::Failure;
using nlohmann::json;

BackendConfig parse_backend_config(std::string_view json_text) {
  backend_common::ConfigReader reader("cloud-hypervisor", json_text);
  BackendConfig config;
  config.binary = reader.string("binary", config.binary);
  config.state_dir = reader.string("stateDir");
  config.host_root = reader.string("hostRoot", config.host_root);
  config.firmware = reader.string("firmware");
  config.verbose = reader.boolean("verbose", config.verbose);
  reader.refuse_unknown();
  return config;
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
  if (std::string why = unsupported_binary(settings->probe); !why.empty()) {
    throw Failure(HAL_UNSUPPORTED, why);
  }
  settings_ = settings;
  vms().adopt_stored(settings_->state_root, [&](backend_common::StoredVm &&stored) {
    return std::make_shared<VmController>(settings_, std::move(stored.spec.spec));
  });
}

std::string ChBackend::capabilities() {
  const bool tdx = tdx_missing(settings_->host_root, settings_->probe).empty();
  json doc = {
      {"abiVersion", abi_version_string()},
      {"hypervisor", "cloud-hypervisor"},
      {"accelerator", accelerator_of(settings_->probe)},
      {"operations", json::parse(hal::plugin::operations_json<ChBackend, ChVm>(abi_version()))},
      {"features",
       {{"liveMigration", true},
        {"migrationTls", true},
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
  backend_common::ParsedSpec parsed = backend_common::parse_spec(spec_json);
  json &doc = parsed.doc;
  VmSpec &spec = parsed.spec;
  if (spec.launch_security.type == LaunchSecurityType::kTdx) {
    if (std::string missing = tdx_missing(settings_->host_root, settings_->probe);
        !missing.empty()) {
      throw Failure(HAL_UNSUPPORTED, "spec.launchSecurity: " + missing);
    }
  }
  // Everything the VmConfig cannot express fails now, not at start.
  VmConfigOptions options;
  options.serial_socket = std::string(VmStateDir::kSerialSocket);
  options.host = discover_host_topology(settings_->host_root);
  options.default_firmware = settings_->default_firmware;
  build_vm_config(spec, options);
  if (validate_only) return nullptr;

  return vms().define(spec.name, VmStateDir(settings_->state_root, spec.name), doc,
                      [&] { return std::make_shared<VmController>(settings_, std::move(spec)); });
}

std::unique_ptr<hal::plugin::Vm> ChBackend::prepare_incoming(std::string_view spec_json,
                                                             std::string_view params_json,
                                                             std::string &out_endpoint_json) {
  return define_incoming(spec_json, [&](VmController &vm) {
    out_endpoint_json = vm.start_incoming(parse_migration_params(params_json, vm.spec().migration));
  });
}

}  // namespace hal::cloud_hypervisor
