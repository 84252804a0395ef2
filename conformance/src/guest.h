// guest.h - observing the guest: through its serial console (a unix socket, when the backend
// declares "console": true) by the test guest's "HAL-GUEST:" markers, otherwise through the
// backend's vm_get_info ("guest", "numaPlacement", "hostDevices").
#ifndef HAL_CONFORMANCE_GUEST_H
#define HAL_CONFORMANCE_GUEST_H

#include <chrono>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/plugin/backend.h"

namespace hal::conformance {

/** What the suite could learn about the guest's liveness. */
struct GuestLiveness {
  bool known = false;      ///< Anything observed at all.
  std::string source;      ///< "console" or "info".
  std::string boot_id;     ///< console: boot_id; info: "bootCount=<n>".
  int64_t heartbeat = -1;  ///< Last heartbeat counter (-1 = unknown).
  int64_t uptime_ms = -1;  ///< Guest uptime from info (-1 = unknown).
};

/** The unix socket path of the VM's console, when the backend declares a console and answers a
 *  unix endpoint; nullopt otherwise. */
std::optional<std::string> console_socket(const Vm &vm);

/** Reads the console at `path` until a line matches `pattern` or `timeout` passes; answers the
 *  matched groups ([0] = whole match) of the first matching line (nullopt when none). */
std::optional<std::vector<std::string>> read_console_marker(const std::string &path,
                                                            const std::regex &pattern,
                                                            std::chrono::milliseconds timeout);

/** Where the backend offers a console, waits until the guest is up ("HAL-GUEST: ready" or a
 *  heartbeat), so ACPI requests are not lost during boot; answers true at once without one. */
bool wait_guest_ready(const Vm &vm, std::chrono::milliseconds timeout);

/** Observes liveness: console heartbeat marker, else info.guest.{bootCount,heartbeat}. */
GuestLiveness observe_guest(const Vm &vm, std::chrono::milliseconds timeout);

/** The number of NUMA nodes the guest sees ("HAL-GUEST: numa nodes=N" on the console, else the
 *  number of entries in info.numaPlacement). `source` says where it came from. */
std::optional<int> guest_numa_nodes(const Vm &vm, std::chrono::milliseconds timeout,
                                    std::string &source);

/** The guest NUMA node of host device `name`: info.hostDevices[name].guestNumaNode, else a
 *  console line "HAL-GUEST: pci <bdf> ... numa_node=N" mentioning `name` or `model`. */
std::optional<int> guest_device_node(const Vm &vm, const std::string &name,
                                     const std::string &model, std::chrono::milliseconds timeout,
                                     std::string &source);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_GUEST_H
