// policy.h - Kubernetes RBAC semantics over HAL's objects: what a caller asks to do (verb, API
// group, resource or resource/subresource, namespace, name), the rules of a Role or ClusterRole
// read from its stored JSON, whether a rule allows a request (with "*" and "*/subresource"
// wildcards and resourceNames), and which subjects a binding names.
#ifndef HAL_CONTROLLER_RBAC_POLICY_H
#define HAL_CONTROLLER_RBAC_POLICY_H

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal::controller::rbac {

/** What a caller asks to do. */
struct AccessRequest {
  std::string verb;      ///< get, list, watch, create, update, delete (or "*" in grant checks).
  std::string group;     ///< API group of the resource ("kubevirt.io", ...).
  std::string resource;  ///< "virtualmachines" or "virtualmachines/start".
  std::string ns;        ///< Namespace; "" for a cluster-scoped resource or every namespace.
  std::string name;      ///< Object name; "" for a whole collection (list, watch).
};

/** One rule of a Role or ClusterRole. */
struct PolicyRule {
  std::vector<std::string> verbs;           ///< Verbs, or "*".
  std::vector<std::string> groups;          ///< API groups, or "*".
  std::vector<std::string> resources;       ///< Resources, "*" or "*/SUBRESOURCE".
  std::vector<std::string> resource_names;  ///< Empty: every object.
};

/** The rules of a stored Role or ClusterRole (members that are not lists of strings are
 *  skipped; stored objects were validated). */
std::vector<PolicyRule> rules_of(const nlohmann::json &role);

/** True when `rule` allows `request`. A rule with resourceNames allows only requests that name
 *  one of those objects (never a whole-collection list or watch). */
bool rule_allows(const PolicyRule &rule, const AccessRequest &request);

/** One subject of a binding. */
struct Subject {
  bool group = false;  ///< Group (else User).
  std::string name;    ///< User or group name.
};

/** The subjects of a stored RoleBinding or ClusterRoleBinding. */
std::vector<Subject> subjects_of(const nlohmann::json &binding);

/** "create virtualmachines in namespace \"prod\"" and the like, for messages. */
std::string describe_request(const AccessRequest &request);

}  // namespace hal::controller::rbac

#endif  // HAL_CONTROLLER_RBAC_POLICY_H
