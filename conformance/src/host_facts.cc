// host_facts.cc - host facts for the report and the TDX clauses, from core/host's discovery
// (see host_facts.h).
#include "host_facts.h"

#include "core/host/host_topology.h"

namespace hal::conformance {

nlohmann::json HostFacts::to_json() const {
  return {{"accelerator", accelerator},
          {"numaNodes", numa_nodes},
          {"cpus", cpus},
          {"tdx", {{"supported", tdx}, {"reason", tdx_reason}}}};
}

HostFacts read_host_facts() {
  HostTopology topology = discover_host_topology("/");
  HostFacts facts;
  facts.accelerator = topology.accelerator;
  facts.numa_nodes = static_cast<int>(topology.numa_nodes.empty() ? 1 : topology.numa_nodes.size());
  facts.cpus = static_cast<int>(topology.online_cpus.empty() ? 1 : topology.online_cpus.size());
  facts.tdx = topology.tdx.supported;
  facts.tdx_reason = topology.tdx.reason;
  return facts;
}

}  // namespace hal::conformance
