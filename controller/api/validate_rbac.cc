// validate_rbac.cc - validators of the rbac.authorization.k8s.io/v1 kinds: Role and ClusterRole
// (rules over HAL's resources, verbs and API groups) and RoleBinding and ClusterRoleBinding
// (User and Group subjects, roleRef). Names the field of every problem, like the other kinds.
#include <algorithm>
#include <string>

#include "controller/api/rbac_api.h"
#include "controller/api/validators.h"

namespace hal::controller::detail {
namespace {

using nlohmann::json;

// The resources a rule may name, for messages.
std::string known_resources() {
  std::string out;
  for (const ApiResource &resource : api_resources()) {
    if (!out.empty()) out += ", ";
    out += resource.name;
  }
  return out;
}

// The subresource names ("start", "drain", ...), for "*/start".
bool is_subresource_name(std::string_view name) {
  for (const ApiResource &resource : api_resources()) {
    auto slash = resource.name.find('/');
    if (slash != std::string_view::npos && resource.name.substr(slash + 1) == name) return true;
  }
  return false;
}

// A required list of strings at `path`; returns the strings that are strings.
std::vector<std::string> string_list(const json &rule, const char *key, const std::string &path,
                                     bool required, Errors &errors) {
  std::vector<std::string> out;
  auto it = rule.find(key);
  const std::string where = join(path, key);
  if (it == rule.end()) {
    if (required) errors.add(where, "is required");
    return out;
  }
  if (!it->is_array()) {
    errors.add(where, std::string("must be a list of strings, not ") + it->type_name());
    return out;
  }
  if (required && it->empty()) errors.add(where, "must not be empty");
  for (size_t i = 0; i < it->size(); ++i) {
    const json &item = (*it)[i];
    if (!item.is_string()) {
      errors.add(index(where, i), std::string("must be a string, not ") + item.type_name());
    } else {
      out.push_back(item.get<std::string>());
    }
  }
  return out;
}

void validate_rule(const json &rule, const std::string &path, Errors &errors) {
  if (!check_fields(
          rule, path, {"apiGroups", "resources", "verbs", "resourceNames"},
          {{"nonResourceURLs", "non-resource URLs are not served by HAL; name resources instead"}},
          errors)) {
    return;
  }
  const auto verbs = string_list(rule, "verbs", path, true, errors);
  for (size_t i = 0; i < verbs.size(); ++i) {
    if (is_rbac_verb(verbs[i])) continue;
    std::string message = "\"" + verbs[i] +
                          "\" is not a verb (get, list, watch, create, update, patch, delete, "
                          "deletecollection, bind, escalate or *)";
    if (is_subresource_name(verbs[i])) {
      message += "; KubeVirt's " + verbs[i] + " is a subresource: verb update (get for console) " +
                 "on a resource like virtualmachines/" + verbs[i] +
                 " in API group subresources.kubevirt.io";
    }
    errors.add(index(join(path, "verbs"), i), message);
  }
  const auto groups = string_list(rule, "apiGroups", path, true, errors);
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i] != "*" && !is_api_group(groups[i])) {
      errors.add(index(join(path, "apiGroups"), i),
                 "\"" + groups[i] +
                     "\" is not an API group HAL serves (\"\", kubevirt.io, "
                     "subresources.kubevirt.io, hal.dev, rbac.authorization.k8s.io or *)");
    }
  }
  const bool any_group = std::find(groups.begin(), groups.end(), "*") != groups.end();
  const auto resources = string_list(rule, "resources", path, true, errors);
  for (size_t i = 0; i < resources.size(); ++i) {
    const std::string &name = resources[i];
    const std::string where = index(join(path, "resources"), i);
    if (name == "*") continue;
    if (name.starts_with("*/")) {
      if (!is_subresource_name(name.substr(2)))
        errors.add(where, "\"" + name + "\" names no subresource HAL serves");
      continue;
    }
    auto resource = find_api_resource(name);
    if (!resource) {
      errors.add(where,
                 "unknown resource \"" + name + "\" (" + known_resources() + ", * or */SUB)");
    } else if (!any_group && !groups.empty() &&
               std::find(groups.begin(), groups.end(), resource->group) == groups.end()) {
      // Kubernetes would accept the rule and never match it: a common slip with subresources.
      errors.add(where, name + " is served in API group \"" + std::string(resource->group) +
                            "\", which apiGroups does not list");
    }
  }
  string_list(rule, "resourceNames", path, false, errors);
}

// The subject kinds a binding may name: certificates carry a user (CN) and groups (O).
void validate_subject(const json &subject, const std::string &path, Errors &errors) {
  if (!check_fields(subject, path, {"kind", "name", "apiGroup"},
                    {{"namespace",
                      "only ServiceAccount subjects have a namespace, and HAL has "
                      "no service accounts"}},
                    errors)) {
    return;
  }
  auto kind = get_string(subject, "kind", path, errors);
  if (!subject.contains("kind")) {
    errors.add(join(path, "kind"), "is required: User or Group");
  } else if (kind && *kind == "ServiceAccount") {
    errors.add(join(path, "kind"),
               "HAL has no service accounts: bind a User (a certificate's CN) or a Group (its O)");
  } else if (kind && *kind != "User" && *kind != "Group") {
    errors.add(join(path, "kind"), "must be User or Group, not \"" + *kind + "\"");
  }
  auto name = get_string(subject, "name", path, errors);
  if (!subject.contains("name") || (name && name->empty()))
    errors.add(join(path, "name"), "is required: the user or group name");
  auto group = get_string(subject, "apiGroup", path, errors);
  if (group && !group->empty() && *group != kRbacGroup)
    errors.add(join(path, "apiGroup"), "must be rbac.authorization.k8s.io, not \"" + *group + "\"");
}

void validate_role_ref(const json &object, bool cluster_binding, Errors &errors) {
  auto it = object.find("roleRef");
  if (it == object.end()) {
    errors.add("roleRef", "is required: {apiGroup: rbac.authorization.k8s.io, kind, name}");
    return;
  }
  if (!check_fields(*it, "roleRef", {"apiGroup", "kind", "name"}, {}, errors)) return;
  auto group = get_string(*it, "apiGroup", "roleRef", errors);
  if (!it->contains("apiGroup")) {
    errors.add("roleRef.apiGroup", "is required: rbac.authorization.k8s.io");
  } else if (group && *group != kRbacGroup) {
    errors.add("roleRef.apiGroup", "must be rbac.authorization.k8s.io, not \"" + *group + "\"");
  }
  auto kind = get_string(*it, "kind", "roleRef", errors);
  if (!it->contains("kind")) {
    errors.add("roleRef.kind",
               cluster_binding ? "is required: ClusterRole" : "is required: Role or ClusterRole");
  } else if (kind && cluster_binding && *kind != kClusterRoleKind) {
    errors.add("roleRef.kind",
               "a ClusterRoleBinding can only refer to a ClusterRole, not \"" + *kind + "\"");
  } else if (kind && *kind != kRoleKind && *kind != kClusterRoleKind) {
    errors.add("roleRef.kind", "must be Role or ClusterRole, not \"" + *kind + "\"");
  }
  auto name = get_string(*it, "name", "roleRef", errors);
  if (!it->contains("name") || (name && name->empty()))
    errors.add("roleRef.name", "is required: the role's name");
}

}  // namespace

void validate_role(const json &object, Errors &errors) {
  const bool cluster = object.value("kind", std::string()) == kClusterRoleKind;
  check_fields(object, "", {"apiVersion", "kind", "metadata", "rules"},
               {{"aggregationRule",
                 "aggregated ClusterRoles are not supported by HAL; list "
                 "the rules"}},
               errors);
  validate_metadata(object, cluster ? Scope::kCluster : Scope::kNamespaced, errors,
                    NameRule::kRbacName);
  auto rules = object.find("rules");
  if (rules == object.end()) return;  // A role without rules grants nothing, as in Kubernetes.
  if (!rules->is_array()) {
    errors.add("rules", std::string("must be a list of rules, not ") + rules->type_name());
    return;
  }
  for (size_t i = 0; i < rules->size(); ++i) validate_rule((*rules)[i], index("rules", i), errors);
}

void validate_role_binding(const json &object, Errors &errors) {
  const bool cluster = object.value("kind", std::string()) == kClusterRoleBindingKind;
  check_fields(object, "", {"apiVersion", "kind", "metadata", "subjects", "roleRef"}, {}, errors);
  validate_metadata(object, cluster ? Scope::kCluster : Scope::kNamespaced, errors,
                    NameRule::kRbacName);
  if (auto subjects = object.find("subjects"); subjects != object.end()) {
    if (!subjects->is_array()) {
      errors.add("subjects",
                 std::string("must be a list of subjects, not ") + subjects->type_name());
    } else {
      for (size_t i = 0; i < subjects->size(); ++i)
        validate_subject((*subjects)[i], index("subjects", i), errors);
    }
  }
  validate_role_ref(object, cluster, errors);
}

}  // namespace hal::controller::detail
