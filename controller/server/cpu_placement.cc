// cpu_placement.cc - dedicated vCPU placement (cpu.dedicatedCpuPlacement): the controller picks
// host CPUs on the chosen node that no other VMI placed there holds, filling one host NUMA node
// first, and translates the VMI with that placement (to_hal_spec's pinning).
#include <algorithm>

#include "controller/server/controller.h"
#include "hal/host.hpp"

namespace hal::controller {

std::optional<CpuPlacement> Controller::pick_cpus(const std::string &node,
                                                  const ResourceRequest &request) const {
  auto snapshot = registry_.node(node);
  if (!snapshot) return std::nullopt;
  std::set<uint32_t> used;
  {
    std::lock_guard lock(mutex_);
    for (const auto &[key, placement] : placements_) {
      if (placement.node == node)
        used.insert(placement.host_cpus.begin(), placement.host_cpus.end());
    }
    for (const auto &[key, placement] : target_placements_) {
      if (placement.node == node)
        used.insert(placement.host_cpus.begin(), placement.host_cpus.end());
    }
  }
  // Free CPUs per host NUMA node.
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> free;
  const auto &info = *snapshot->host_info;
  if (info.is_object() && info.contains("numaNodes")) {
    for (const auto &numa : info["numaNodes"]) {
      std::vector<uint32_t> cpus;
      for (const auto &cpu : numa.value("cpus", nlohmann::json::array())) {
        uint32_t id = cpu.get<uint32_t>();
        if (used.count(id) == 0) cpus.push_back(id);
      }
      free.emplace_back(numa.value("id", 0u), std::move(cpus));
    }
  }
  CpuPlacement placement;
  // One node that holds every vCPU first (best locality), else spread over nodes in order.
  std::sort(free.begin(), free.end(),
            [](const auto &a, const auto &b) { return a.second.size() < b.second.size(); });
  for (const auto &[numa, cpus] : free) {
    if (cpus.size() >= request.vcpus) {
      for (uint32_t i = 0; i < request.vcpus; ++i) {
        placement.host_cpus.push_back(cpus[i]);
        placement.host_numa_nodes.push_back(numa);
      }
      return placement;
    }
  }
  for (const auto &[numa, cpus] : free) {
    for (uint32_t cpu : cpus) {
      if (placement.host_cpus.size() == request.vcpus) break;
      placement.host_cpus.push_back(cpu);
      placement.host_numa_nodes.push_back(numa);
    }
  }
  if (placement.host_cpus.size() < request.vcpus) return std::nullopt;
  return placement;
}

nlohmann::json Controller::hal_spec_for(const nlohmann::json &vmi_spec, const std::string &vm_id,
                                        const std::string &node, const ResourceRequest &request,
                                        std::vector<uint32_t> *host_cpus) const {
  if (!request.dedicated_cpus) return to_hal_spec(vmi_spec, translation(vm_id));
  auto placement = pick_cpus(node, request);
  if (!placement) {
    throw hal::Error(HAL_RESOURCE_EXHAUSTED, "node " + node + " has fewer than " +
                                                 std::to_string(request.vcpus) +
                                                 " free host CPUs for dedicatedCpuPlacement");
  }
  if (host_cpus != nullptr) *host_cpus = placement->host_cpus;
  return to_hal_spec(vmi_spec, translation(vm_id), *placement);
}

}  // namespace hal::controller
