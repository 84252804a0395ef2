// memvisor_backend.h - one open memvisor instance (hal_backend): configuration, capabilities,
// host facts, and creating, finding and listing VMs.
#ifndef MEMVISOR_MEMVISOR_BACKEND_H
#define MEMVISOR_MEMVISOR_BACKEND_H

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "hal/plugin.hpp"
#include "vm_store.h"

namespace memvisor {

/** An open instance. Config: {"instance": "<name>"} (default "default"): instances of one name
 *  share their VMs, as two opens on one hypervisor would; any other key is refused. */
class MemBackend : public hal::plugin::Backend {
 public:
  /** open(): parses the config (INVALID_ARGUMENT when it is not an object of known keys). */
  MemBackend(std::string_view config_json, hal::plugin::EventSink events);

  void close(uint32_t flags) override;
  std::string capabilities() override;
  std::string host_info() override;
  std::unique_ptr<hal::plugin::Vm> create_vm(std::string_view spec_json, uint32_t flags) override;
  std::unique_ptr<hal::plugin::Vm> lookup_vm(std::string_view vm_id) override;
  std::string list_vms() override;

 private:
  Store *store_ = nullptr;
  uint64_t sink_ = 0;
  std::atomic<int> handles_{0};
};

}  // namespace memvisor

#endif  // MEMVISOR_MEMVISOR_BACKEND_H
