// kvm_qemu_backend.h - the kvm-qemu backend as hal::plugin classes: configuration, the table of
// VMs (with re-adoption at open), capabilities, host info, and the hal_vm handle class.
#ifndef HAL_BACKENDS_KVM_QEMU_KVM_QEMU_BACKEND_H
#define HAL_BACKENDS_KVM_QEMU_KVM_QEMU_BACKEND_H

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "backends/kvm-qemu/vm_controller.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

/** The backend's configuration JSON: {"stateDir", "qemuBinary", "accelerator", "hostRoot"}. */
struct BackendConfig {
  /** Root of per-VM state dirs (default: backend_common::default_state_root("kvm-qemu")). */
  std::string state_dir;
  /** QEMU binary (default qemu-system-x86_64 from PATH). */
  std::string qemu_binary = "qemu-system-x86_64";
  /** "auto" (KVM where stock guests run under it, else TCG: see accelerator.h) | "kvm" | "tcg". */
  std::string accelerator = "auto";
  /** Prefix for host sysfs reads (default "/"). */
  std::string host_root = "/";
};

/** Parses the config; throws Failure(HAL_INVALID_ARGUMENT) naming the bad field. */
BackendConfig parse_backend_config(std::string_view json_text);

/** A hal_vm handle: a reference to a shared VmController. */
class KvmQemuVm final : public hal::plugin::Vm {
 public:
  /** A handle on `vm`; `handles` counts live handles of the backend. */
  KvmQemuVm(std::shared_ptr<VmController> vm, std::shared_ptr<std::atomic<int>> handles,
            std::function<void(const std::string &)> on_deleted);
  ~KvmQemuVm() override;

  void start(uint32_t flags) override;
  void force_stop() override;
  void remove(uint32_t flags) override;
  hal_vm_state state() override;
  std::string info() override;
  void pause() override;
  void resume() override;
  void shutdown(uint32_t timeout_ms, uint32_t flags) override;
  void reboot() override;
  void reset() override;
  std::string console() override;
  void migration_send(std::string_view params_json) override;
  std::string migration_progress() override;
  void migration_cancel() override;

 private:
  std::shared_ptr<VmController> vm_;
  std::shared_ptr<std::atomic<int>> handles_;
  std::function<void(const std::string &)> on_deleted_;
};

/** One open kvm-qemu backend. */
class KvmQemuBackend final : public hal::plugin::Backend {
 public:
  /** open(): parses the config, checks QEMU and the accelerator, re-adopts VMs. */
  KvmQemuBackend(std::string_view config_json, hal::plugin::EventSink events);
  ~KvmQemuBackend() override;

  void close(uint32_t flags) override;
  std::string capabilities() override;
  std::string host_info() override;
  std::unique_ptr<hal::plugin::Vm> create_vm(std::string_view spec_json, uint32_t flags) override;
  std::unique_ptr<hal::plugin::Vm> lookup_vm(std::string_view vm_id) override;
  std::string list_vms() override;
  std::unique_ptr<hal::plugin::Vm> prepare_incoming(std::string_view spec_json,
                                                    std::string_view params_json,
                                                    std::string &out_endpoint_json) override;

 private:
  std::shared_ptr<VmController> define(std::string_view spec_json, bool validate_only);
  std::unique_ptr<hal::plugin::Vm> make_handle(std::shared_ptr<VmController> vm);
  void forget(const std::string &id);
  void adopt_existing();

  std::shared_ptr<BackendSettings> settings_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<VmController>> vms_;
  std::shared_ptr<std::atomic<int>> handles_ = std::make_shared<std::atomic<int>>(0);
  bool closed_ = false;
};

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_KVM_QEMU_BACKEND_H
