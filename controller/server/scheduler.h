// scheduler.h - picks a node for a VMI: filters (Ready, schedulable, node selector, backend
// capabilities for TDX / NUMA / live migration, free CPU and memory, guest NUMA fit) then scores
// (least allocated, then spread by VM count). Pure functions over a snapshot of the nodes.
#ifndef HAL_CONTROLLER_SERVER_SCHEDULER_H
#define HAL_CONTROLLER_SERVER_SCHEDULER_H

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/api/kubevirt_api.h"

namespace hal::controller {

/** An immutable JSON document shared by every snapshot of a node: scheduling copies node views
 *  for each decision, and copying a pointer instead of the document keeps that cheap at scale. */
using SharedJson = std::shared_ptr<const nlohmann::json>;

/** A SharedJson holding `doc`. */
SharedJson share_json(nlohmann::json doc);
/** The one shared empty object (copying it allocates nothing). */
const SharedJson &empty_shared_json();

/** Node labels, shared by the node's views like SharedJson. */
using SharedLabels = std::shared_ptr<const std::map<std::string, std::string>>;
/** A SharedLabels holding `labels`. */
SharedLabels share_labels(std::map<std::string, std::string> labels);
/** The one shared empty label set. */
const SharedLabels &empty_shared_labels();

/** What the scheduler knows about one node. */
struct SchedulerNode {
  std::string name;                               ///< Node name.
  SharedLabels labels = empty_shared_labels();    ///< Node labels.
  bool ready = false;                             ///< Ready condition True.
  bool unschedulable = false;                     ///< spec.unschedulable (cordoned).
  std::string backend;                            ///< Backend new VMs use on this node.
  SharedJson capabilities = empty_shared_json();  ///< That backend's capabilities document.
  SharedJson host_info = empty_shared_json();     ///< host-info document (numaNodes, tdx).
  uint32_t allocatable_cpus = 0;                  ///< CPUs VMs may use.
  uint64_t allocatable_memory = 0;                ///< Memory bytes VMs may use.
  uint64_t allocated_cpu_millis = 0;  ///< CPU requests (millicores) of VMIs placed here.
  uint64_t allocated_memory = 0;      ///< Memory of VMIs placed here.
  size_t vm_count = 0;                ///< VMIs placed here (for spreading).
};

/** KubeVirt's default cpuAllocationRatio: a shared (not dedicated) vCPU requests 1/10 of a
 *  host CPU, so a node can carry ten times as many shared vCPUs as it has CPUs. */
constexpr uint32_t kCpuAllocationRatio = 10;

/** Host CPU a VMI requests in millicores, as KubeVirt computes its pod's CPU request: 1000 per
 *  dedicated vCPU (dedicatedCpuPlacement), 1000 / kCpuAllocationRatio per shared vCPU. */
uint64_t cpu_request_millis(uint32_t vcpus, bool dedicated);

/** One guest NUMA node's needs. */
struct GuestNumaNode {
  uint32_t vcpus = 0;   ///< vCPUs in the node.
  uint64_t memory = 0;  ///< Memory bytes of the node.
};

/** What is being scheduled. */
struct SchedulingRequest {
  ResourceRequest resources;              ///< From resource_request().
  nlohmann::json node_selector;           ///< VMI spec.nodeSelector (object or null).
  std::vector<GuestNumaNode> guest_numa;  ///< Guest NUMA nodes (empty = none).
  bool migration = false;                 ///< Target of a live migration (needs liveMigration).
  std::set<std::string> exclude;          ///< Nodes never to pick (e.g. the source).
  std::string required_node;              ///< Only this node (empty = any).
};

/** Why a node was not picked. */
struct NodeRejection {
  std::string node;    ///< Node name.
  std::string reason;  ///< First failing filter, e.g. "insufficient memory (...)".
};

/** The scheduler's answer. */
struct SchedulingDecision {
  std::optional<std::string> node;        ///< Picked node, or nullopt when unschedulable.
  std::vector<NodeRejection> rejections;  ///< Each rejected node with its reason.
  /** "0/3 nodes are available: n1: not ready; n2: ..." (KubeVirt/kube-scheduler style). */
  std::string message(size_t node_count) const;
};

/** Filters and scores `nodes` for `request`. */
SchedulingDecision schedule(const SchedulingRequest &request,
                            const std::vector<SchedulerNode> &nodes);

/** The reason `node` cannot take `request`, or nullopt when it fits. */
std::optional<std::string> filter_node(const SchedulingRequest &request, const SchedulerNode &node);

/** True when each guest NUMA node fits on a distinct host NUMA node of `host_info` (first fit,
 *  largest guest nodes first, by CPUs and memory). */
bool numa_fits(const std::vector<GuestNumaNode> &guest, const nlohmann::json &host_info);

/** Guest NUMA nodes of a HAL VM spec (spec.numa.nodes); empty when it has none. */
std::vector<GuestNumaNode> guest_numa_nodes(const nlohmann::json &hal_spec);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_SCHEDULER_H
