// authorizer.cc - the RBAC index over the store's RBAC objects, decisions and the escalation
// check (see authorizer.h).
#include "controller/rbac/authorizer.h"

#include <unordered_map>

#include "controller/api/rbac_api.h"

namespace hal::controller::rbac {

using nlohmann::json;

namespace {

using Rules = std::shared_ptr<const std::vector<PolicyRule>>;

// What one binding gives its subjects: a role's rules, in one namespace or everywhere.
struct Grant {
  std::string ns;  ///< The RoleBinding's namespace; "" for a ClusterRoleBinding.
  Rules rules;
};

// Member `key` of `object` without copying; a shared null when absent.
const json &member(const json &object, const char *key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string string_member(const json &object, const char *key) {
  const json &value = member(object, key);
  return value.is_string() ? value.get<std::string>() : "";
}

std::string ns_of(const json &object) {
  std::string ns = string_member(member(object, "metadata"), "namespace");
  return ns.empty() ? "default" : ns;
}

std::string name_of(const json &object) {
  return string_member(member(object, "metadata"), "name");
}

// "user \"bob\" (groups devs, qa)".
std::string who_text(const tls::Identity &who) {
  std::string text = "user \"" + who.user + "\"";
  if (who.groups.empty()) return text + " (no groups)";
  text += " (groups ";
  for (size_t i = 0; i < who.groups.size(); ++i) text += (i == 0 ? "" : ", ") + who.groups[i];
  return text + ")";
}

bool granted(const std::vector<Grant> &grants, const AccessRequest &request) {
  for (const Grant &grant : grants) {
    if (!grant.ns.empty() && grant.ns != request.ns) continue;
    for (const PolicyRule &rule : *grant.rules) {
      if (rule_allows(rule, request)) return true;
    }
  }
  return false;
}

}  // namespace

struct Authorizer::Index {
  std::unordered_map<std::string, std::vector<Grant>> users;   ///< By user name.
  std::unordered_map<std::string, std::vector<Grant>> groups;  ///< By group name.

  bool allows(const tls::Identity &who, const AccessRequest &request) const {
    if (auto it = users.find(who.user); it != users.end() && granted(it->second, request))
      return true;
    for (const std::string &group : who.groups) {
      if (auto it = groups.find(group); it != groups.end() && granted(it->second, request))
        return true;
    }
    return false;
  }

  static std::shared_ptr<const Index> build(const std::map<StoreKey, json> &objects) {
    std::map<StoreKey, Rules> roles;
    for (const auto &[key, object] : objects) {
      if (key.kind == kRoleKind || key.kind == kClusterRoleKind)
        roles[key] = std::make_shared<const std::vector<PolicyRule>>(rules_of(object));
    }
    auto index = std::make_shared<Index>();
    for (const auto &[key, object] : objects) {
      if (key.kind != kRoleBindingKind && key.kind != kClusterRoleBindingKind) continue;
      const json &ref = member(object, "roleRef");
      const std::string role_kind = string_member(ref, "kind");
      // A RoleBinding's Role is in its own namespace; a ClusterRole has none. A binding whose
      // role does not exist (yet) grants nothing; the index is rebuilt when the role comes.
      auto role = roles.find(
          StoreKey{role_kind, role_kind == kRoleKind ? key.ns : "", string_member(ref, "name")});
      if (role == roles.end()) continue;
      Grant grant{key.kind == kRoleBindingKind ? key.ns : "", role->second};
      for (const Subject &subject : subjects_of(object))
        (subject.group ? index->groups : index->users)[subject.name].push_back(grant);
    }
    return index;
  }
};

/** A watch of one RBAC kind. */
struct Authorizer::Feed {
  std::string kind;              ///< The kind watched.
  std::unique_ptr<Watch> watch;  ///< From revision 0: every current object, then the changes.
};

Authorizer::Authorizer(Store &store) : store_(store) {
  for (const char *kind : {kRoleKind, kClusterRoleKind, kRoleBindingKind, kClusterRoleBindingKind})
    feeds_.push_back(
        std::make_unique<Feed>(Feed{kind, store_.watch(WatchFilter{kind, "", ""}, 0)}));
}

Authorizer::~Authorizer() = default;

std::shared_ptr<const Authorizer::Index> Authorizer::current() {
  std::lock_guard lock(mutex_);
  bool changed = index_ == nullptr;
  for (auto &feed : feeds_) {
    while (feed->watch->pending() > 0) {
      auto event = feed->watch->next(std::chrono::milliseconds(0));
      if (!event) break;
      if (event->type == WatchType::kDeleted) {
        objects_.erase(event->object.key);
      } else {
        objects_[event->object.key] = event->object.object;
      }
      changed = true;
    }
    if (feed->watch->closed()) {
      // The watch overflowed: start this kind over from what the store holds now (a watch from
      // revision 0 begins with every current object).
      std::erase_if(objects_, [&](const auto &entry) { return entry.first.kind == feed->kind; });
      feed->watch = store_.watch(WatchFilter{feed->kind, "", ""}, 0);
      while (auto event = feed->watch->next(std::chrono::milliseconds(0)))
        objects_[event->object.key] = event->object.object;
      changed = true;
    }
  }
  if (changed) index_ = Index::build(objects_);
  return index_;
}

Decision Authorizer::authorize(const tls::Identity &who, const AccessRequest &request) {
  if (who.in_group(kAdminsGroup)) return Decision{true, ""};
  if (current()->allows(who, request)) return Decision{true, ""};
  return Decision{false, denial(who, request)};
}

std::string Authorizer::denial(const tls::Identity &who, const AccessRequest &request) {
  return who_text(who) + " cannot " + describe_request(request);
}

Decision Authorizer::check_rules(const tls::Identity &who, const std::vector<PolicyRule> &rules,
                                 const std::string &ns, const std::string &what) {
  if (who.in_group(kAdminsGroup)) return Decision{true, ""};
  const std::shared_ptr<const Index> index = current();  // one snapshot for every rule
  for (const PolicyRule &rule : rules) {
    const std::vector<std::string> names =
        rule.resource_names.empty() ? std::vector<std::string>{""} : rule.resource_names;
    for (const std::string &verb : rule.verbs) {
      for (const std::string &group : rule.groups) {
        for (const std::string &resource : rule.resources) {
          for (const std::string &name : names) {
            AccessRequest request{verb, group, resource, ns, name};
            if (index->allows(who, request)) continue;
            return Decision{false, who_text(who) + " cannot grant " + describe_request(request) +
                                       " through " + what + ": it does not hold that itself"};
          }
        }
      }
    }
  }
  return Decision{true, ""};
}

Decision Authorizer::authorize_grant(const tls::Identity &who, const json &object,
                                     const std::vector<json> &manifest) {
  const std::string kind = string_member(object, "kind");
  if (!is_rbac_kind(kind) || who.in_group(kAdminsGroup)) return Decision{true, ""};
  const std::string ns = is_cluster_scoped_kind(kind) ? "" : ns_of(object);
  const std::string name = name_of(object);
  const std::string where = ns.empty() ? "" : " in namespace \"" + ns + "\"";
  if (kind == kRoleKind || kind == kClusterRoleKind) {
    AccessRequest escalate{"escalate", std::string(kRbacGroup),
                           kind == kRoleKind ? "roles" : "clusterroles", ns, name};
    if (authorize(who, escalate).allowed) return Decision{true, ""};
    return check_rules(who, rules_of(object), ns, kind + " \"" + name + "\"" + where);
  }
  const json &ref = member(object, "roleRef");
  const std::string role_kind = string_member(ref, "kind");
  const std::string role_name = string_member(ref, "name");
  const std::string role_ns = role_kind == kRoleKind ? ns : "";
  AccessRequest bind{"bind", std::string(kRbacGroup),
                     role_kind == kRoleKind ? "roles" : "clusterroles", ns, role_name};
  if (authorize(who, bind).allowed) return Decision{true, ""};
  std::optional<json> role;
  for (const json &other : manifest) {
    if (string_member(other, "kind") == role_kind && name_of(other) == role_name &&
        (role_kind != kRoleKind || ns_of(other) == role_ns))
      role = other;
  }
  if (!role) {
    if (auto stored = store_.get(StoreKey{role_kind, role_ns, role_name})) role = stored->object;
  }
  const std::string what = kind + " \"" + name + "\"" + where;
  if (!role) {
    return Decision{false, who_text(who) + " cannot bind " + role_kind + " \"" + role_name +
                               "\" through " + what +
                               ": it does not exist (create it first, or be granted bind on it)"};
  }
  return check_rules(who, rules_of(*role), ns, what);
}

}  // namespace hal::controller::rbac
