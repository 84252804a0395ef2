// kvm_qemu_backend.h - the kvm-qemu backend as hal::plugin classes: configuration, the table of
// VMs (with re-adoption at open), capabilities, host info, and the hal_vm handle class.
#ifndef HAL_BACKENDS_KVM_QEMU_KVM_QEMU_BACKEND_H
#define HAL_BACKENDS_KVM_QEMU_KVM_QEMU_BACKEND_H

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backends/common/vm_table.h"
#include "backends/kvm-qemu/vm_controller.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

/** The backend's configuration JSON: {"stateDir", "qemuBinary", "accelerator", "hostRoot",
 *  "runAs"}. */
struct BackendConfig {
  /** Root of per-VM state dirs (default: backend_common::default_state_root("kvm-qemu")). */
  std::string state_dir;
  /** QEMU binary (default qemu-system-x86_64 from PATH). */
  std::string qemu_binary = "qemu-system-x86_64";
  /** "auto" (KVM where stock guests run under it, else TCG: see accelerator.h) | "kvm" | "tcg". */
  std::string accelerator = "auto";
  /** Prefix for host sysfs reads (default "/"). */
  std::string host_root = "/";
  /** config.runAs as given (nullopt when absent): the user QEMU runs as (see run_as.h). */
  std::optional<std::string> run_as;
};

/** Parses the config; throws Failure(HAL_INVALID_ARGUMENT) naming the bad field. */
BackendConfig parse_backend_config(std::string_view json_text);

/** A hal_vm handle on one VM (backend_common::VmHandle); the optional entries QEMU provides
 *  forward to its VmController. */
class KvmQemuVm final : public backend_common::VmHandle<VmController> {
 public:
  using VmHandle::VmHandle;

  void pause() override { vm().pause(); }
  void resume() override { vm().resume(); }
  void shutdown(uint32_t timeout_ms, uint32_t flags) override { vm().shutdown(timeout_ms, flags); }
  void reboot() override { vm().reboot(); }
  void reset() override { vm().reset(); }
  std::string console() override { return vm().console(); }
  void migration_send(std::string_view params_json) override { vm().migration_send(params_json); }
  std::string migration_progress() override { return vm().migration_progress(); }
  void migration_cancel() override { vm().migration_cancel(); }
};

/** One open kvm-qemu backend. */
class KvmQemuBackend final : public backend_common::VmTableBackend<VmController, KvmQemuVm> {
 public:
  /** open(): parses the config, checks QEMU and the accelerator, re-adopts VMs. */
  KvmQemuBackend(std::string_view config_json, hal::plugin::EventSink events);

  std::string capabilities() override;
  std::string host_info() override;
  std::unique_ptr<hal::plugin::Vm> prepare_incoming(std::string_view spec_json,
                                                    std::string_view params_json,
                                                    std::string &out_endpoint_json) override;

 private:
  // Checks the spec (QEMU features, TDX, the command line it makes) and, unless
  // `validate_only`, defines the VM (state dir with spec.json, a STOPPED VmController).
  std::shared_ptr<VmController> define(std::string_view spec_json, bool validate_only) override;

  std::shared_ptr<BackendSettings> settings_;
};

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_KVM_QEMU_BACKEND_H
