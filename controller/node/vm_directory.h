// vm_directory.h - which of the node's backends runs which VM: built from the backends' own
// lists at start (re-adopted VMs included) and kept current on create/prepare/delete; also the
// time each VM last changed state, for VmStatus.updated_unix_ms.
#ifndef HAL_CONTROLLER_NODE_VM_DIRECTORY_H
#define HAL_CONTROLLER_NODE_VM_DIRECTORY_H

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controller/node/backend_loader.h"
#include "core/plugin/backend.h"
#include "hal/v1/node.pb.h"

namespace hal::node {

/** Maps VM ids to the backend that runs them. Thread-safe; the backends outlive it. */
class VmDirectory {
 public:
  /** A directory over `backends` (not owned), filled from their vm_list(). */
  explicit VmDirectory(std::vector<LoadedBackend> &backends);

  /** The backend called `name`; throws hal::Error(INVALID_ARGUMENT) naming `field` and the
   *  backends this node has when there is none. */
  LoadedBackend &backend(std::string_view field, const std::string &name);

  /** A handle on VM `vm_id` and its backend; throws hal::Error(NOT_FOUND) when no backend of
   *  the node has it (the backends are asked before giving up). */
  std::pair<LoadedBackend *, Vm> open(const std::string &vm_id);

  /** The backend that has `vm_id`, or nullptr (asks the backends when not remembered). */
  LoadedBackend *owner(const std::string &vm_id);

  /** Records that `backend` now runs `vm_id`. */
  void remember(const std::string &vm_id, LoadedBackend &backend);
  /** Forgets `vm_id` (after delete). */
  void forget(const std::string &vm_id);
  /** Records a state change of `vm_id` at `unix_ms`. */
  void touch(const std::string &vm_id, int64_t unix_ms);

  /** The wire status of `vm` on `backend`; with `with_info` info_json is vm_get_info. */
  v1::VmStatus status(const LoadedBackend &backend, const Vm &vm, bool with_info);

  /** Every VM of every backend (info_json empty), from the backends' vm_list(). */
  std::vector<v1::VmStatus> list();

  /** Number of VMs remembered. */
  std::size_t size() const;

 private:
  struct Entry {
    LoadedBackend *backend = nullptr;
    int64_t updated_ms = 0;
  };
  int64_t updated_ms(const std::string &vm_id);

  std::vector<LoadedBackend> &backends_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> vms_;
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_VM_DIRECTORY_H
