// cpu_placement.h - dedicated vCPU placement (cpu.dedicatedCpuPlacement): which host CPUs of a
// node a VMI gets, given the node's host-info topology and the CPUs other VMIs hold there.
#ifndef HAL_CONTROLLER_SERVER_CPU_PLACEMENT_H
#define HAL_CONTROLLER_SERVER_CPU_PLACEMENT_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "controller/api/kubevirt_api.h"

namespace hal::controller {

/** `vcpus` free host CPUs of a node whose host-info document is `host_info` ("numaNodes" with
 *  their "cpus"), none of them in `used`: all on one NUMA node when one has room (the fullest
 *  such node first, to keep larger free blocks), else spread over the nodes in order. nullopt
 *  when fewer than `vcpus` are free. */
std::optional<CpuPlacement> pick_host_cpus(const nlohmann::json &host_info,
                                           const std::set<uint32_t> &used, uint32_t vcpus);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_CPU_PLACEMENT_H
