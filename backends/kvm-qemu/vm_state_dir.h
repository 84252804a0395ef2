// vm_state_dir.h - the files of one kvm-qemu VM in its private state directory
// (backends/common/state_dir.h): QEMU's pidfile and stderr log, the QMP and serial console sockets
// and the console log.
#ifndef HAL_BACKENDS_KVM_QEMU_VM_STATE_DIR_H
#define HAL_BACKENDS_KVM_QEMU_VM_STATE_DIR_H

#include <filesystem>
#include <string>

#include "backends/common/state_dir.h"

namespace hal::kvm_qemu {

/** The state directory of one VM: <root>/<vm-name>/ (mode 0700). */
class VmStateDir : public backend_common::StateDir {
 public:
  /** The state dir of VM `name` under `root`. */
  VmStateDir(const std::filesystem::path &root, const std::string &name)
      : VmStateDir(root / name) {}
  /** A state dir at an explicit path. */
  explicit VmStateDir(std::filesystem::path dir)
      : StateDir(std::move(dir), {.pidfile = "qemu.pid", .log = "qemu.stderr.log"}) {}

  /** QMP socket (mode 0600 once QEMU created it). */
  std::filesystem::path qmp_socket() const { return dir() / "qmp.sock"; }
  /** Serial console socket (mode 0600 once QEMU created it). */
  std::filesystem::path console_socket() const { return dir() / "console.sock"; }
  /** Copy of everything the guest wrote on its serial console. */
  std::filesystem::path console_log() const { return dir() / "console.log"; }
};

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_VM_STATE_DIR_H
