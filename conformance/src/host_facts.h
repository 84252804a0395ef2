// host_facts.h - facts about the machine hal-conformance runs on (accelerator, NUMA nodes, CPUs,
// TDX), from core/host, for the report and the TDX host-match clause.
#ifndef HAL_CONFORMANCE_HOST_FACTS_H
#define HAL_CONFORMANCE_HOST_FACTS_H

#include <nlohmann/json.hpp>
#include <string>

namespace hal::conformance {

/** What this host offers. */
struct HostFacts {
  std::string accelerator;  ///< "kvm" when /dev/kvm is usable, else "tcg".
  int numa_nodes = 1;       ///< Nodes under /sys/devices/system/node (1 when absent).
  int cpus = 1;             ///< Online CPUs.
  bool tdx = false;         ///< kvm_intel loaded with tdx=Y.
  std::string tdx_reason;   ///< Why TDX is absent ("" when present).

  /** {"accelerator","numaNodes","cpus","tdx":{"supported","reason"}}. */
  nlohmann::json to_json() const;
};

/** Reads the facts of this host. */
HostFacts read_host_facts();

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_HOST_FACTS_H
