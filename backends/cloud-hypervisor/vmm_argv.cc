// vmm_argv.cc - the VMM command line (see vmm_argv.h).
#include "backends/cloud-hypervisor/vmm_argv.h"

namespace hal::cloud_hypervisor {

std::vector<std::string> vmm_argv(const std::string &binary, const VmStateDir &dir, bool verbose) {
  std::vector<std::string> argv = {binary, "--api-socket", "path=" + dir.api_socket().string(),
                                   "--event-monitor", "path=" + dir.event_file().string()};
  if (verbose) argv.push_back("-v");
  return argv;
}

}  // namespace hal::cloud_hypervisor
