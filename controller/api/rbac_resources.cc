// rbac_resources.cc - the table of resources, verbs and API groups behind rbac_api.h.
#include <algorithm>
#include <string>

#include "controller/api/rbac_api.h"

namespace hal::controller {

namespace {

constexpr std::string_view kKubeVirtGroup = "kubevirt.io";
constexpr std::string_view kSubresourcesGroup = "subresources.kubevirt.io";
constexpr std::string_view kHalGroup = "hal.dev";

}  // namespace

const std::vector<ApiResource> &api_resources() {
  // KubeVirt serves the VM actions as subresources in subresources.kubevirt.io (its RBAC roles
  // grant them with verb update, the console with get); virtualmachineinstances/migrate and
  // nodes/drain are HAL's own (KubeVirt migrates through virtualmachines/migrate or a
  // VirtualMachineInstanceMigration, Kubernetes drains through evictions).
  static const std::vector<ApiResource> table = {
      {"virtualmachines", kKubeVirtGroup, "VirtualMachine", true},
      {"virtualmachineinstances", kKubeVirtGroup, "VirtualMachineInstance", true},
      {"virtualmachineinstancemigrations", kKubeVirtGroup, "VirtualMachineInstanceMigration", true},
      {"virtualmachines/start", kSubresourcesGroup, "", true},
      {"virtualmachines/stop", kSubresourcesGroup, "", true},
      {"virtualmachines/restart", kSubresourcesGroup, "", true},
      {"virtualmachines/migrate", kSubresourcesGroup, "", true},
      {"virtualmachineinstances/pause", kSubresourcesGroup, "", true},
      {"virtualmachineinstances/unpause", kSubresourcesGroup, "", true},
      {"virtualmachineinstances/console", kSubresourcesGroup, "", true},
      {"virtualmachineinstances/migrate", kSubresourcesGroup, "", true},
      {"nodepools", kHalGroup, "NodePool", false},
      {"nodes", kHalGroup, "Node", false},
      {"nodes/drain", kHalGroup, "", false},
      {"events", "", "Event", true},
      {"roles", kRbacGroup, kRoleKind, true},
      {"rolebindings", kRbacGroup, kRoleBindingKind, true},
      {"clusterroles", kRbacGroup, kClusterRoleKind, false},
      {"clusterrolebindings", kRbacGroup, kClusterRoleBindingKind, false},
  };
  return table;
}

std::optional<ApiResource> resource_of_kind(std::string_view kind) {
  if (kind.empty()) return std::nullopt;
  for (const ApiResource &resource : api_resources()) {
    if (resource.kind == kind) return resource;
  }
  return std::nullopt;
}

std::optional<ApiResource> find_api_resource(std::string_view name) {
  for (const ApiResource &resource : api_resources()) {
    if (resource.name == name) return resource;
  }
  return std::nullopt;
}

bool is_rbac_verb(std::string_view verb) {
  static constexpr std::string_view verbs[] = {"get",    "list",     "watch",  "create",
                                               "update", "patch",    "delete", "deletecollection",
                                               "bind",   "escalate", "*"};
  return std::find(std::begin(verbs), std::end(verbs), verb) != std::end(verbs);
}

bool is_api_group(std::string_view group) {
  return group.empty() || group == kKubeVirtGroup || group == kSubresourcesGroup ||
         group == kHalGroup || group == kRbacGroup;
}

bool is_cluster_scoped_kind(std::string_view kind) {
  const std::optional<ApiResource> resource = resource_of_kind(kind);
  return resource && !resource->namespaced;
}

bool is_rbac_kind(std::string_view kind) {
  return kind == kRoleKind || kind == kClusterRoleKind || kind == kRoleBindingKind ||
         kind == kClusterRoleBindingKind;
}

}  // namespace hal::controller
