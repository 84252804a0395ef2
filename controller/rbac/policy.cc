// policy.cc - rule matching and the reading of roles and bindings (see policy.h).
#include "controller/rbac/policy.h"

#include <algorithm>

#include "controller/api/rbac_api.h"

namespace hal::controller::rbac {

using nlohmann::json;

namespace {

std::vector<std::string> strings_at(const json &object, const char *key) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const json &item : *it) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

bool has(const std::vector<std::string> &list, const std::string &value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Kubernetes' matching: "*" is every resource and subresource, "*/SUB" is subresource SUB of
// any resource, anything else must equal the requested resource[/subresource].
bool resource_matches(const std::vector<std::string> &resources, const std::string &requested) {
  if (has(resources, "*") || has(resources, requested)) return true;
  auto slash = requested.find('/');
  return slash != std::string::npos && has(resources, "*" + requested.substr(slash));
}

}  // namespace

std::vector<PolicyRule> rules_of(const json &role) {
  std::vector<PolicyRule> rules;
  auto it = role.find("rules");
  if (it == role.end() || !it->is_array()) return rules;
  for (const json &rule : *it) {
    if (!rule.is_object()) continue;
    rules.push_back(PolicyRule{strings_at(rule, "verbs"), strings_at(rule, "apiGroups"),
                               strings_at(rule, "resources"), strings_at(rule, "resourceNames")});
  }
  return rules;
}

bool rule_allows(const PolicyRule &rule, const AccessRequest &request) {
  if (!has(rule.verbs, "*") && !has(rule.verbs, request.verb)) return false;
  if (!has(rule.groups, "*") && !has(rule.groups, request.group)) return false;
  if (!resource_matches(rule.resources, request.resource)) return false;
  return rule.resource_names.empty() ||
         (!request.name.empty() && has(rule.resource_names, request.name));
}

std::vector<Subject> subjects_of(const json &binding) {
  std::vector<Subject> subjects;
  auto it = binding.find("subjects");
  if (it == binding.end() || !it->is_array()) return subjects;
  for (const json &subject : *it) {
    if (!subject.is_object()) continue;
    const std::string kind = subject.value("kind", "");
    const std::string name = subject.value("name", "");
    if ((kind == "User" || kind == "Group") && !name.empty())
      subjects.push_back(Subject{kind == "Group", name});
  }
  return subjects;
}

std::string describe_request(const AccessRequest &request) {
  std::string text = request.verb + " " + request.resource;
  auto resource = find_api_resource(request.resource);
  if (resource && !resource->namespaced) {
    text += " (cluster-scoped";
  } else if (request.ns.empty()) {
    text += " in all namespaces (";
  } else {
    text += " in namespace \"" + request.ns + "\" (";
  }
  if (resource && !resource->namespaced) text += ", ";
  if (!request.name.empty()) text += "name \"" + request.name + "\", ";
  return text + "API group \"" + request.group + "\")";
}

}  // namespace hal::controller::rbac
