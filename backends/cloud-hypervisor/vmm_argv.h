// vmm_argv.h - the command line of a cloud-hypervisor VMM for one VM: its API socket and
// event-monitor file in the VM's state directory (everything else goes through the REST API).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_VMM_ARGV_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_VMM_ARGV_H

#include <string>
#include <vector>

#include "backends/cloud-hypervisor/vm_state_dir.h"

namespace hal::cloud_hypervisor {

/** The argv of a VMM for state dir `dir`: binary --api-socket path=… --event-monitor path=…
 *  plus -v when `verbose`. */
std::vector<std::string> vmm_argv(const std::string &binary, const VmStateDir &dir, bool verbose);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_VMM_ARGV_H
