// memvisor_vm.h - one memvisor VM handle (hal_vm): the lifecycle operations on a VmRecord.
#ifndef MEMVISOR_MEMVISOR_VM_H
#define MEMVISOR_MEMVISOR_VM_H

#include <atomic>
#include <memory>
#include <string>

#include "hal/plugin.hpp"
#include "vm_store.h"

namespace memvisor {

/** A handle on one VM. It holds the VM's record, not its name, so a handle of a deleted VM stays
 *  dead when a new VM takes the name (LC-033). Counts itself in its backend's `handles`. */
class MemVm : public hal::plugin::Vm {
 public:
  /** A handle on `record` of `store`; `handles` counts the backend's live handles. */
  MemVm(Store &store, std::shared_ptr<VmRecord> record, std::atomic<int> &handles);
  ~MemVm() override;

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

 private:
  /** Throws NOT_FOUND when the VM was deleted. Caller holds the store's mutex. */
  VmRecord &live(const char *op);
  /** Throws FAILED_PRECONDITION naming the VM, its state and `op`. */
  [[noreturn]] void refuse(const char *op, const VmRecord &vm, const char *hint);

  Store &store_;
  std::shared_ptr<VmRecord> record_;
  std::atomic<int> &handles_;
};

}  // namespace memvisor

#endif  // MEMVISOR_MEMVISOR_VM_H
