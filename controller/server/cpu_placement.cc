// cpu_placement.cc - dedicated vCPU placement: free host CPUs per NUMA node, one node first.
#include "controller/server/cpu_placement.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace hal::controller {

std::optional<CpuPlacement> pick_host_cpus(const nlohmann::json &host_info,
                                           const std::set<uint32_t> &used, uint32_t vcpus) {
  // Free CPUs per host NUMA node.
  std::vector<std::pair<uint32_t, std::vector<uint32_t>>> free;
  if (host_info.is_object() && host_info.contains("numaNodes")) {
    for (const auto &numa : host_info["numaNodes"]) {
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
  std::stable_sort(free.begin(), free.end(),
                   [](const auto &a, const auto &b) { return a.second.size() < b.second.size(); });
  for (const auto &[numa, cpus] : free) {
    if (cpus.size() >= vcpus) {
      for (uint32_t i = 0; i < vcpus; ++i) {
        placement.host_cpus.push_back(cpus[i]);
        placement.host_numa_nodes.push_back(numa);
      }
      return placement;
    }
  }
  for (const auto &[numa, cpus] : free) {
    for (uint32_t cpu : cpus) {
      if (placement.host_cpus.size() == vcpus) break;
      placement.host_cpus.push_back(cpu);
      placement.host_numa_nodes.push_back(numa);
    }
  }
  if (placement.host_cpus.size() < vcpus) return std::nullopt;
  return placement;
}

}  // namespace hal::controller
