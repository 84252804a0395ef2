// api_server.h - the emulator's HTTP/1.1 server on the API Unix socket (Boost.Beast,
// synchronous, one thread per connection, keep-alive), routing /api/v1/<endpoint> to the Vmm.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_API_SERVER_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_API_SERVER_H

#include <string>

#include "backends/cloud-hypervisor/emulator/vmm.h"

namespace hal::ch_emulator {

/** Serves the API socket at `path` until the process exits. Throws std::runtime_error when the
 *  socket cannot be created. `verbose` logs each request on stderr. */
void serve_api(const std::string &path, Vmm &vmm, bool verbose);

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_API_SERVER_H
