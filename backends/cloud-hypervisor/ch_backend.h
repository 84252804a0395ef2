// ch_backend.h - the cloud-hypervisor backend as hal::plugin classes: configuration, the table of
// VMs (re-adopted at open), capabilities, host info, and the hal_vm handle.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_CH_BACKEND_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_CH_BACKEND_H

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "backends/cloud-hypervisor/vm_controller.h"
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
  /** Directory of serial sockets (default: "cloud-hypervisor-serial" next to stateDir). */
  std::string serial_dir;
  /** Default firmware for firmware boot. */
  std::string firmware;
  /** Pass -v to the VMM. */
  bool verbose = false;
};

/** Parses the config; throws Failure(INVALID_ARGUMENT) naming the bad field. */
BackendConfig parse_backend_config(std::string_view json_text);

/** A hal_vm handle: a reference to a shared VmController. */
class ChVm final : public hal::plugin::Vm {
 public:
  /** A handle on `vm`; `handles` counts the backend's live handles. */
  ChVm(std::shared_ptr<VmController> vm, std::shared_ptr<std::atomic<int>> handles,
       std::function<void(const std::string &)> on_deleted);
  ~ChVm() override;

  void start(uint32_t flags) override;
  void force_stop() override;
  void remove(uint32_t flags) override;
  hal_vm_state state() override;
  std::string info() override;
  void pause() override;
  void resume() override;
  void shutdown(uint32_t timeout_ms, uint32_t flags) override;
  void reboot() override;
  std::string console() override;
  void migration_send(std::string_view params_json) override;
  std::string migration_progress() override;
  void migration_cancel() override;
  void attach_device(std::string_view device_json) override;
  void detach_device(std::string_view device_name) override;

 private:
  std::shared_ptr<VmController> vm_;
  std::shared_ptr<std::atomic<int>> handles_;
  std::function<void(const std::string &)> on_deleted_;
};

/** One open cloud-hypervisor backend. */
class ChBackend final : public hal::plugin::Backend {
 public:
  /** open(): parses the config, probes the binary, re-adopts VMs. */
  ChBackend(std::string_view config_json, hal::plugin::EventSink events);
  ~ChBackend() override;

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
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_CH_BACKEND_H
