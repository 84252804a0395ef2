// validators.h - internal: the per-kind validators behind validate_object.
#ifndef HAL_CONTROLLER_API_VALIDATORS_H
#define HAL_CONTROLLER_API_VALIDATORS_H

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controller/api/field_check.h"

namespace hal::controller::detail {

/** How metadata is checked. */
enum class Scope {
  kNamespaced,  ///< namespace allowed (defaults to "default"); name+namespace form a HAL VM id.
  kCluster,     ///< namespace must be absent or empty.
};

/** What metadata.name must be. */
enum class NameRule {
  kDnsLabel,  ///< A DNS-1123 label (objects that become HAL VM ids, nodes, pools).
  kRbacName,  ///< Lower-case letters, digits, '-', '.' and ':' ("kubevirt.io:edit").
};

/** Checks an object's metadata (name per `names`, namespace, labels, annotations and the
 *  server-populated fields; everything else rejected by name). */
void validate_metadata(const nlohmann::json &object, Scope scope, Errors &errors,
                       NameRule names = NameRule::kDnsLabel);

/** Checks a VirtualMachineInstance spec at `path` (e.g. "spec" or "spec.template.spec"). */
void validate_vmi_spec(const nlohmann::json &spec, std::string_view path, Errors &errors);

/** Checks a VMI's spec.domain at `path`. */
void validate_domain(const nlohmann::json &domain, const std::string &path, Errors &errors);

/** Kind validators for the whole object (apiVersion/kind already checked). */
void validate_virtual_machine(const nlohmann::json &object, Errors &errors);
/** VirtualMachineInstance. */
void validate_virtual_machine_instance(const nlohmann::json &object, Errors &errors);
/** VirtualMachineInstanceMigration. */
void validate_migration(const nlohmann::json &object, Errors &errors);
/** hal.dev/v1 NodePool. */
void validate_node_pool(const nlohmann::json &object, Errors &errors);
/** rbac.authorization.k8s.io/v1 Role and ClusterRole (by the object's kind). */
void validate_role(const nlohmann::json &object, Errors &errors);
/** rbac.authorization.k8s.io/v1 RoleBinding and ClusterRoleBinding (by the object's kind). */
void validate_role_binding(const nlohmann::json &object, Errors &errors);

}  // namespace hal::controller::detail

#endif  // HAL_CONTROLLER_API_VALIDATORS_H
