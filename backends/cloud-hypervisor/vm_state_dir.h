// vm_state_dir.h - the files of one cloud-hypervisor VM in its private state directory
// (backends/common/state_dir.h), which is also the VMM's working directory: the VMM's pidfile
// and log, its REST API socket, the event-monitor file, the serial console socket and the
// migration relay sockets.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_VM_STATE_DIR_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_VM_STATE_DIR_H

#include <filesystem>
#include <string>

#include "backends/common/state_dir.h"

namespace hal::cloud_hypervisor {

/** The state directory of one VM: <root>/<vm-name>/ (mode 0700). */
class VmStateDir : public backend_common::StateDir {
 public:
  /** The state dir of VM `name` under `root`. */
  VmStateDir(const std::filesystem::path &root, const std::string &name)
      : VmStateDir(root / name) {}
  /** A state dir at an explicit path. */
  explicit VmStateDir(std::filesystem::path dir)
      : StateDir(std::move(dir),
                 {.pidfile = "cloud-hypervisor.pid", .log = "cloud-hypervisor.log"}) {}

  /** The VMM's REST API socket. */
  std::filesystem::path api_socket() const { return dir() / "api.sock"; }
  /** The serial socket's path in the VmConfig: relative, so each VMM binds it in its own working
   *  directory (this dir). Cloud Hypervisor takes the path from the source's config when it
   *  receives a migration, binds it without removing a leftover file and removes it when its VM
   *  is dropped: an absolute path would make a same-host migration target fail ("Address in
   *  use") and the source's exit remove the target's socket. */
  static constexpr const char *kSerialSocket = "serial.sock";
  /** The serial console socket, as clients reach it. */
  std::filesystem::path serial_socket() const { return dir() / kSerialSocket; }
  /** The event-monitor file the VMM appends JSON events to. */
  std::filesystem::path event_file() const { return dir() / "events.json"; }
  /** Where an outgoing migration's relay listens for the VMM. */
  std::filesystem::path migration_out_socket() const { return dir() / "migration-out.sock"; }
  /** Where the VMM receives an incoming migration (relayed from the public endpoint). */
  std::filesystem::path migration_in_socket() const { return dir() / "migration-in.sock"; }
  /** With migration TLS: where the incoming relay listens for the TLS relay's plain side. */
  std::filesystem::path migration_tls_in_socket() const { return dir() / "migration-tls-in.sock"; }
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_VM_STATE_DIR_H
