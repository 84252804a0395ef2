// ch_backend.h - the cloud-hypervisor backend as hal::plugin classes: configuration, capabilities,
// host info, and the hal_vm handle; the table of VMs (re-adopted at open) is backends/common's.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_CH_BACKEND_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_CH_BACKEND_H

#include <memory>
#include <string>
#include <string_view>

#include "backends/cloud-hypervisor/vm_controller.h"
#include "backends/common/vm_table.h"
#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {

/** The config: {"binary", "stateDir", "hostRoot", "firmware", "verbose"}. */
struct BackendConfig {
  /** VMM binary: "cloud-hypervisor" from PATH by default, or hal-ch-emulator. */
  std::string binary = "cloud-hypervisor";
  /** Root of per-VM state dirs (default: backend_common::default_state_root("cloud-hypervisor")).
   */
  std::string state_dir;
  /** Prefix for host sysfs reads. */
  std::string host_root = "/";
  /** Default firmware for firmware boot. */
  std::string firmware;
  /** Pass -v to the VMM. */
  bool verbose = false;
};

/** Parses the config; throws Failure(INVALID_ARGUMENT) naming the bad field. */
BackendConfig parse_backend_config(std::string_view json_text);

/** A hal_vm handle on one VM (backend_common::VmHandle); the optional entries Cloud Hypervisor
 *  provides forward to its VmController. */
class ChVm final : public backend_common::VmHandle<VmController> {
 public:
  using VmHandle::VmHandle;

  void pause() override { vm().pause(); }
  void resume() override { vm().resume(); }
  void shutdown(uint32_t timeout_ms, uint32_t flags) override { vm().shutdown(timeout_ms, flags); }
  void reboot() override { vm().reboot(); }
  std::string console() override { return vm().console(); }
  void migration_send(std::string_view params_json) override { vm().migration_send(params_json); }
  std::string migration_progress() override { return vm().migration_progress(); }
  void migration_cancel() override { vm().migration_cancel(); }
  void attach_device(std::string_view device_json) override { vm().attach_device(device_json); }
  void detach_device(std::string_view device_name) override { vm().detach_device(device_name); }
};

/** One open cloud-hypervisor backend. */
class ChBackend final : public backend_common::VmTableBackend<VmController, ChVm> {
 public:
  /** open(): parses the config, probes the binary, re-adopts VMs. */
  ChBackend(std::string_view config_json, hal::plugin::EventSink events);

  std::string capabilities() override;
  std::string host_info() override;
  std::unique_ptr<hal::plugin::Vm> prepare_incoming(std::string_view spec_json,
                                                    std::string_view params_json,
                                                    std::string &out_endpoint_json) override;

 private:
  // Checks the spec (TDX, the VmConfig it makes) and, unless `validate_only`, defines the VM
  // (state dir with spec.json, a STOPPED VmController).
  std::shared_ptr<VmController> define(std::string_view spec_json, bool validate_only) override;

  std::shared_ptr<BackendSettings> settings_;
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_CH_BACKEND_H
