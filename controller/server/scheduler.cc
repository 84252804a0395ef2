// scheduler.cc - node filtering and scoring.
#include "controller/server/scheduler.h"

#include <algorithm>

#include "core/spec/quantity.h"

namespace hal::controller {
namespace {

bool feature(const nlohmann::json &capabilities, const char *name) {
  if (!capabilities.is_object()) return false;
  auto features = capabilities.find("features");
  if (features == capabilities.end() || !features->is_object()) return false;
  auto it = features->find(name);
  return it != features->end() && it->is_boolean() && it->get<bool>();
}

std::string gib(uint64_t bytes) {
  char text[32];
  snprintf(text, sizeof text, "%.2fGi", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return text;
}

uint64_t quantity_bytes(const nlohmann::json &value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer())
    return static_cast<uint64_t>(std::max<int64_t>(0, value.get<int64_t>()));
  if (value.is_string()) return hal::parse_quantity(value.get<std::string>()).value_or(0);
  return 0;
}

}  // namespace

std::vector<GuestNumaNode> guest_numa_nodes(const nlohmann::json &hal_spec) {
  std::vector<GuestNumaNode> nodes;
  if (!hal_spec.is_object() || !hal_spec.contains("numa")) return nodes;
  const auto &numa = hal_spec["numa"];
  if (!numa.is_object() || !numa.contains("nodes") || !numa["nodes"].is_array()) return nodes;
  for (const auto &node : numa["nodes"]) {
    GuestNumaNode guest;
    if (node.contains("vcpus") && node["vcpus"].is_array()) {
      guest.vcpus = static_cast<uint32_t>(node["vcpus"].size());
    }
    if (node.contains("memory")) guest.memory = quantity_bytes(node["memory"]);
    nodes.push_back(guest);
  }
  return nodes;
}

bool numa_fits(const std::vector<GuestNumaNode> &guest, const nlohmann::json &host_info) {
  if (guest.empty()) return true;
  if (!host_info.is_object() || !host_info.contains("numaNodes")) return false;
  struct HostNode {
    uint32_t cpus;
    uint64_t memory;
    bool used = false;
  };
  std::vector<HostNode> host;
  for (const auto &node : host_info["numaNodes"]) {
    uint32_t cpus = node.contains("cpus") && node["cpus"].is_array()
                        ? static_cast<uint32_t>(node["cpus"].size())
                        : 0;
    host.push_back(HostNode{cpus, node.contains("memory") ? quantity_bytes(node["memory"]) : 0});
  }
  std::vector<GuestNumaNode> sorted = guest;
  std::sort(sorted.begin(), sorted.end(), [](const GuestNumaNode &a, const GuestNumaNode &b) {
    return a.memory != b.memory ? a.memory > b.memory : a.vcpus > b.vcpus;
  });
  for (const GuestNumaNode &node : sorted) {
    auto best = host.end();
    for (auto it = host.begin(); it != host.end(); ++it) {
      if (it->used || it->cpus < node.vcpus || it->memory < node.memory) continue;
      if (best == host.end() || it->memory < best->memory) best = it;  // Tightest fit.
    }
    if (best == host.end()) return false;
    best->used = true;
  }
  return true;
}

std::optional<std::string> filter_node(const SchedulingRequest &request,
                                       const SchedulerNode &node) {
  if (request.exclude.count(node.name) != 0) return "excluded (migration source)";
  if (!request.required_node.empty() && node.name != request.required_node) {
    return "not the requested node " + request.required_node;
  }
  if (!node.ready) return "node is not Ready";
  if (node.unschedulable) return "node is unschedulable (cordoned)";
  if (request.node_selector.is_object()) {
    for (const auto &[key, value] : request.node_selector.items()) {
      auto it = node.labels->find(key);
      std::string wanted = value.is_string() ? value.get<std::string>() : value.dump();
      if (it == node.labels->end() || it->second != wanted) {
        return "node selector " + key + "=" + wanted + " does not match";
      }
    }
  }
  if (node.backend.empty()) return "node has no backend";
  if (request.resources.needs_tdx) {
    const nlohmann::json &host = *node.host_info;
    if (!feature(*node.capabilities, "tdx")) return "backend " + node.backend + " lacks TDX";
    if (host.is_object() && host.contains("tdx") && !host["tdx"].value("supported", false)) {
      return "host does not support TDX: " + host["tdx"].value("reason", "");
    }
  }
  if ((request.resources.needs_numa || !request.guest_numa.empty()) &&
      !feature(*node.capabilities, "numa")) {
    return "backend " + node.backend + " lacks NUMA support";
  }
  if (request.resources.dedicated_cpus && !feature(*node.capabilities, "vcpuPinning")) {
    return "backend " + node.backend + " lacks vCPU pinning (dedicatedCpuPlacement)";
  }
  if (request.migration && !feature(*node.capabilities, "liveMigration")) {
    return "backend " + node.backend + " lacks live migration";
  }
  const uint64_t capacity = uint64_t{node.allocatable_cpus} * 1000;
  const uint64_t wanted =
      cpu_request_millis(request.resources.vcpus, request.resources.dedicated_cpus);
  const uint64_t free_cpu =
      capacity > node.allocated_cpu_millis ? capacity - node.allocated_cpu_millis : 0;
  if (wanted > free_cpu) {
    return "insufficient cpu (requested " + std::to_string(wanted) + "m, free " +
           std::to_string(free_cpu) + "m of " + std::to_string(capacity) + "m)";
  }
  uint64_t free_memory = node.allocatable_memory > node.allocated_memory
                             ? node.allocatable_memory - node.allocated_memory
                             : 0;
  if (request.resources.memory_bytes > free_memory) {
    return "insufficient memory (requested " + gib(request.resources.memory_bytes) + ", free " +
           gib(free_memory) + " of " + gib(node.allocatable_memory) + ")";
  }
  if (!numa_fits(request.guest_numa, *node.host_info)) {
    return "guest NUMA nodes (" + std::to_string(request.guest_numa.size()) +
           ") do not fit the host NUMA nodes";
  }
  return std::nullopt;
}

SharedJson share_json(nlohmann::json doc) {
  return std::make_shared<const nlohmann::json>(std::move(doc));
}

const SharedJson &empty_shared_json() {
  static const SharedJson empty = share_json(nlohmann::json::object());
  return empty;
}

SharedLabels share_labels(std::map<std::string, std::string> labels) {
  return std::make_shared<const std::map<std::string, std::string>>(std::move(labels));
}

const SharedLabels &empty_shared_labels() {
  static const SharedLabels empty = share_labels({});
  return empty;
}

uint64_t cpu_request_millis(uint32_t vcpus, bool dedicated) {
  const uint64_t full = uint64_t{vcpus} * 1000;
  return dedicated ? full : (full + kCpuAllocationRatio - 1) / kCpuAllocationRatio;
}

SchedulingDecision schedule(const SchedulingRequest &request,
                            const std::vector<SchedulerNode> &nodes) {
  SchedulingDecision decision;
  const SchedulerNode *best = nullptr;
  double best_score = -1;
  for (const SchedulerNode &node : nodes) {
    if (auto reason = filter_node(request, node)) {
      decision.rejections.push_back(NodeRejection{node.name, *reason});
      continue;
    }
    // Least allocated: mean free fraction of CPU and memory after placing the VM (0..1), with a
    // small spread term so equal nodes alternate.
    auto fraction = [](double used, double total) { return total <= 0 ? 0.0 : 1.0 - used / total; };
    double cpu = fraction(static_cast<double>(node.allocated_cpu_millis +
                                              cpu_request_millis(request.resources.vcpus,
                                                                 request.resources.dedicated_cpus)),
                          1000.0 * node.allocatable_cpus);
    double memory =
        fraction(static_cast<double>(node.allocated_memory + request.resources.memory_bytes),
                 static_cast<double>(node.allocatable_memory));
    double score = (cpu + memory) / 2.0 - 1e-6 * static_cast<double>(node.vm_count);
    if (best == nullptr || score > best_score || (score == best_score && node.name < best->name)) {
      best = &node;
      best_score = score;
    }
  }
  if (best != nullptr) decision.node = best->name;
  return decision;
}

std::string SchedulingDecision::message(size_t node_count) const {
  std::string text = std::to_string(node_count - rejections.size()) + "/" +
                     std::to_string(node_count) + " nodes are available";
  if (node_count == 0) return "0/0 nodes are available: no nodes are registered";
  for (size_t i = 0; i < rejections.size(); ++i) {
    text += (i == 0 ? ": " : "; ") + rejections[i].node + ": " + rejections[i].reason;
  }
  return text;
}

}  // namespace hal::controller
