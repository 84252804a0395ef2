// rbac_api.h - the authorization vocabulary of the Controller API, shared by the validation of
// rbac.authorization.k8s.io/v1 objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) and
// the authorizer: the resources HAL serves with their API groups (KubeVirt's names, including
// the subresources.kubevirt.io subresources such as virtualmachines/start), the verbs a rule may
// name, and which kinds are cluster-scoped.
#ifndef HAL_CONTROLLER_API_RBAC_API_H
#define HAL_CONTROLLER_API_RBAC_API_H

#include <optional>
#include <string_view>
#include <vector>

namespace hal::controller {

/** API group and apiVersion of the RBAC kinds. */
inline constexpr std::string_view kRbacGroup = "rbac.authorization.k8s.io";
/** apiVersion of Role, ClusterRole, RoleBinding and ClusterRoleBinding. */
inline constexpr std::string_view kRbacApiVersion = "rbac.authorization.k8s.io/v1";

/** The RBAC kinds. */
inline constexpr const char *kRoleKind = "Role";
/** Cluster-wide role. */
inline constexpr const char *kClusterRoleKind = "ClusterRole";
/** Grants a Role or ClusterRole within one namespace. */
inline constexpr const char *kRoleBindingKind = "RoleBinding";
/** Grants a ClusterRole everywhere. */
inline constexpr const char *kClusterRoleBindingKind = "ClusterRoleBinding";

/** One resource (or "resource/subresource") of the API, as RBAC rules name it. */
struct ApiResource {
  std::string_view name;   ///< "virtualmachines", "virtualmachines/start", "nodes/drain".
  std::string_view group;  ///< API group: "kubevirt.io", "subresources.kubevirt.io", ...
  std::string_view kind;   ///< Stored kind ("VirtualMachine"); empty for a subresource.
  bool namespaced = true;  ///< False for cluster-scoped resources (nodes, nodepools, ...).
};

/** Every resource and subresource HAL authorizes, in a fixed order. */
const std::vector<ApiResource> &api_resources();

/** The resource of a stored kind ("VirtualMachine" → virtualmachines), or nullopt. */
std::optional<ApiResource> resource_of_kind(std::string_view kind);

/** The resource or subresource named `name`, or nullopt. */
std::optional<ApiResource> find_api_resource(std::string_view name);

/** True for the verbs a rule may name: get, list, watch, create, update, patch, delete,
 *  deletecollection, bind, escalate and "*". */
bool is_rbac_verb(std::string_view verb);

/** True for the API groups HAL serves ("", kubevirt.io, subresources.kubevirt.io, hal.dev,
 *  rbac.authorization.k8s.io). */
bool is_api_group(std::string_view group);

/** True for kinds stored without a namespace: Node, NodePool, ClusterRole, ClusterRoleBinding. */
bool is_cluster_scoped_kind(std::string_view kind);

/** True for Role, ClusterRole, RoleBinding and ClusterRoleBinding. */
bool is_rbac_kind(std::string_view kind);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_API_RBAC_API_H
