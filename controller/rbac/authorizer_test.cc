// authorizer_test.cc - RBAC decisions over an in-memory store: the built-in admin group, no
// grant without a binding (nodes and controllers included), RoleBinding scope, a RoleBinding of
// a ClusterRole, ClusterRoleBindings, groups, resourceNames, wildcards and subresources, changes
// seen by the next decision, the denial message, and the escalation check of RBAC writes.
#include "controller/rbac/authorizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "controller/api/kubevirt_api.h"
#include "controller/api/rbac_api.h"
#include "controller/store/memory_store.h"

namespace hal::controller::rbac {
namespace {

using nlohmann::json;

const tls::Identity kBob{"bob", {"devs"}};
const tls::Identity kAdmin{"admin", {"system:admins"}};

AccessRequest vms(const std::string &verb, const std::string &ns, const std::string &name = "") {
  return AccessRequest{verb, "kubevirt.io", "virtualmachines", ns, name};
}

AccessRequest start(const std::string &ns, const std::string &name) {
  return AccessRequest{"update", "subresources.kubevirt.io", "virtualmachines/start", ns, name};
}

class AuthorizerTest : public ::testing::Test {
 protected:
  // Stores the objects of `yaml` as apply would (defaults, no validation: callers pass valid
  // manifests).
  void put(const std::string &yaml) {
    for (const json &document : parse_manifests(yaml)) {
      json object = apply_defaults(document);
      const std::string kind = object["kind"];
      const std::string ns = is_cluster_scoped_kind(kind) ? "" : object["metadata"]["namespace"];
      store_.put(StoreKey{kind, ns, object["metadata"]["name"]}, object);
    }
  }
  void remove(const std::string &kind, const std::string &ns, const std::string &name) {
    store_.remove(StoreKey{kind, ns, name});
  }
  bool allowed(const tls::Identity &who, const AccessRequest &request) {
    return authorizer_.authorize(who, request).allowed;
  }

  MemoryStore store_;
  Authorizer authorizer_{store_};
};

const char *const kVmOperatorRole = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: vm-operator, namespace: team-a}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, list, create]
- apiGroups: [subresources.kubevirt.io]
  resources: [virtualmachines/start]
  verbs: [update]
)";

const char *const kBobInTeamA = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-operates, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: vm-operator}
)";

TEST_F(AuthorizerTest, AdminsMayDoEverythingAndNobodyElseWithoutABinding) {
  EXPECT_TRUE(allowed(kAdmin, vms("delete", "prod", "web")));
  EXPECT_TRUE(allowed(kAdmin, AccessRequest{"update", "hal.dev", "nodes/drain", "", "n1"}));
  Decision decision = authorizer_.authorize(kBob, vms("create", "prod", "web"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason,
            "user \"bob\" (groups devs) cannot create virtualmachines in namespace \"prod\" "
            "(name \"web\", API group \"kubevirt.io\")");
  // Nodes and the controller's identity have no rights on the user API unless bound.
  EXPECT_FALSE(allowed(tls::Identity{"system:node:a", {"system:nodes"}}, vms("get", "default")));
  EXPECT_FALSE(
      allowed(tls::Identity{"system:controller", {"system:controllers"}}, vms("list", "default")));
  decision = authorizer_.authorize(tls::Identity{"carol", {}},
                                   AccessRequest{"update", "hal.dev", "nodes/drain", "", "n1"});
  EXPECT_EQ(decision.reason,
            "user \"carol\" (no groups) cannot update nodes/drain (cluster-scoped, name \"n1\", "
            "API group \"hal.dev\")");
  decision = authorizer_.authorize(kBob, vms("list", ""));
  EXPECT_EQ(decision.reason,
            "user \"bob\" (groups devs) cannot list virtualmachines in all namespaces (API group "
            "\"kubevirt.io\")");
}

TEST_F(AuthorizerTest, RoleBindingGrantsItsRoleInItsNamespaceOnly) {
  put(kVmOperatorRole);
  put(kBobInTeamA);
  EXPECT_TRUE(allowed(kBob, vms("create", "team-a", "web")));
  EXPECT_TRUE(allowed(kBob, vms("list", "team-a")));
  EXPECT_TRUE(allowed(kBob, start("team-a", "web")));
  EXPECT_FALSE(allowed(kBob, vms("delete", "team-a", "web")));
  EXPECT_FALSE(allowed(kBob, vms("create", "team-b", "web")));
  EXPECT_FALSE(allowed(kBob, start("team-b", "web")));
  // Listing every namespace needs a cluster-wide grant.
  EXPECT_FALSE(allowed(kBob, vms("list", "")));
  // The VM's own resource does not grant its subresources, nor the other way round.
  EXPECT_FALSE(allowed(kBob, AccessRequest{"update", "subresources.kubevirt.io",
                                           "virtualmachines/stop", "team-a", "web"}));
  EXPECT_FALSE(allowed(
      kBob, AccessRequest{"update", "kubevirt.io", "virtualmachines/start", "team-a", "web"}));
  // Somebody else is not bob.
  EXPECT_FALSE(allowed(tls::Identity{"alice", {"devs"}}, vms("create", "team-a", "web")));
}

TEST_F(AuthorizerTest, RoleBindingOfAClusterRoleIsScopedToTheBindingsNamespace) {
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "kubevirt.io:edit"}
rules:
- apiGroups: [kubevirt.io]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-edit, namespace: team-a}
subjects: [{kind: Group, name: devs}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "kubevirt.io:edit"}
)");
  EXPECT_TRUE(allowed(kBob, vms("delete", "team-a", "web")));
  EXPECT_TRUE(allowed(kBob, AccessRequest{"create", "kubevirt.io",
                                          "virtualmachineinstancemigrations", "team-a", "m"}));
  EXPECT_FALSE(allowed(kBob, vms("delete", "team-b", "web")));
  // "*" in resources is every resource of the listed groups only.
  EXPECT_FALSE(allowed(kBob, AccessRequest{"list", "hal.dev", "nodes", "", ""}));
}

TEST_F(AuthorizerTest, ClusterRoleBindingGrantsEverywhere) {
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: operator}
rules:
- apiGroups: [kubevirt.io, hal.dev]
  resources: [virtualmachines, nodes]
  verbs: [get, list, watch]
- apiGroups: ["*"]
  resources: ["*/console", nodes/drain]
  verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops}
subjects: [{kind: Group, name: ops}, {kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: operator}
)");
  EXPECT_TRUE(allowed(kBob, vms("get", "team-a", "web")));
  EXPECT_TRUE(allowed(kBob, vms("watch", "team-z", "")));
  EXPECT_TRUE(allowed(kBob, vms("list", "")));
  EXPECT_TRUE(allowed(kBob, AccessRequest{"list", "hal.dev", "nodes", "", ""}));
  EXPECT_TRUE(allowed(kBob, AccessRequest{"update", "hal.dev", "nodes/drain", "", "n1"}));
  EXPECT_TRUE(allowed(tls::Identity{"eve", {"ops"}},
                      AccessRequest{"get", "subresources.kubevirt.io",
                                    "virtualmachineinstances/console", "x", "web"}));
  EXPECT_FALSE(allowed(kBob, vms("create", "team-a", "web")));
  EXPECT_FALSE(allowed(tls::Identity{"eve", {"devs"}}, vms("get", "team-a", "web")));
}

TEST_F(AuthorizerTest, ResourceNamesLimitARuleToThoseObjects) {
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web-only, namespace: team-a}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, watch]
  resourceNames: [web]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-only}
)");
  EXPECT_TRUE(allowed(kBob, vms("get", "team-a", "web")));
  EXPECT_TRUE(allowed(kBob, vms("watch", "team-a", "web")));
  EXPECT_FALSE(allowed(kBob, vms("get", "team-a", "db")));
  EXPECT_FALSE(allowed(kBob, vms("watch", "team-a", "")));
}

TEST_F(AuthorizerTest, ChangesAreSeenByTheNextDecision) {
  // A binding before its role grants nothing until the role exists.
  put(kBobInTeamA);
  EXPECT_FALSE(allowed(kBob, vms("get", "team-a", "web")));
  put(kVmOperatorRole);
  EXPECT_TRUE(allowed(kBob, vms("get", "team-a", "web")));
  // Narrowing the role and removing the binding take effect at once.
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: vm-operator, namespace: team-a}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [list]
)");
  EXPECT_FALSE(allowed(kBob, vms("get", "team-a", "web")));
  EXPECT_TRUE(allowed(kBob, vms("list", "team-a")));
  remove("RoleBinding", "team-a", "bob-operates");
  EXPECT_FALSE(allowed(kBob, vms("list", "team-a")));
}

TEST_F(AuthorizerTest, ObjectsStoredBeforeTheAuthorizerCountToo) {
  MemoryStore store;
  for (const json &document :
       parse_manifests(std::string(kVmOperatorRole) + "---\n" + kBobInTeamA)) {
    json object = apply_defaults(document);
    store.put(StoreKey{object["kind"], "team-a", object["metadata"]["name"]}, object);
  }
  Authorizer authorizer(store);
  EXPECT_TRUE(authorizer.authorize(kBob, vms("create", "team-a", "web")).allowed);
}

TEST_F(AuthorizerTest, ManyBindingsAreIndexedBySubject) {
  put(kVmOperatorRole);
  std::string bindings;
  for (int i = 0; i < 2000; ++i) {
    bindings += std::string(i == 0 ? "" : "---\n") +
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b" +
                std::to_string(i) + ", namespace: team-a}\nsubjects: [{kind: User, name: user" +
                std::to_string(i) + "}]\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: " +
                "Role, name: vm-operator}\n";
  }
  put(bindings);
  const auto begin = std::chrono::steady_clock::now();
  constexpr int kDecisions = 100000;
  int granted = 0;
  for (int i = 0; i < kDecisions; ++i) {
    const tls::Identity who{"user" + std::to_string(i % 4000), {"devs", "qa"}};
    granted += allowed(who, vms("create", "team-a", "web")) ? 1 : 0;
  }
  const auto elapsed = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(granted, kDecisions / 2);
  std::printf("%d decisions with 2000 bindings: %.0f ns each\n", kDecisions,
              std::chrono::duration<double, std::nano>(elapsed).count() / kDecisions);
}

// The escalation check: granting through a role or a binding only what the writer holds.
class GrantTest : public AuthorizerTest {
 protected:
  void SetUp() override {
    // bob may write RBAC objects in team-a and operate VMs there, nothing more.
    put(std::string(kVmOperatorRole) + R"(---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: rbac-writer, namespace: team-a}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-writes, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: rbac-writer}
---
)" + kBobInTeamA);
  }
  Decision grant(const std::string &yaml, const std::vector<json> &manifest = {}) {
    return authorizer_.authorize_grant(kBob, apply_defaults(parse_manifests(yaml).at(0)), manifest);
  }
};

TEST_F(GrantTest, ARoleMayHoldOnlyRulesTheWriterHolds) {
  const std::string narrower = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: viewer, namespace: team-a}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, list]
)";
  EXPECT_TRUE(grant(narrower).allowed) << grant(narrower).reason;
  const std::string wider = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deleter, namespace: team-a}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, delete]
)";
  Decision decision = grant(wider);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason,
            "user \"bob\" (groups devs) cannot grant delete virtualmachines in namespace "
            "\"team-a\" (API group \"kubevirt.io\") through Role \"deleter\" in namespace "
            "\"team-a\": it does not hold that itself");
  // The same rules in another namespace, or cluster-wide, are more than bob holds.
  std::string elsewhere = narrower;
  elsewhere.replace(elsewhere.find("team-a"), 6, "team-b");
  EXPECT_FALSE(grant(elsewhere).allowed);
  // A wildcard is only granted by a holder of the wildcard.
  std::string star = narrower;
  star.replace(star.find("[get, list]"), 11, "[\"*\"]");
  EXPECT_FALSE(grant(star).allowed);
  // The escalate verb lifts the check.
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: escalator}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles]
  verbs: [escalate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-escalates, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: escalator}
)");
  EXPECT_TRUE(grant(wider).allowed);
  // Admins are not checked.
  EXPECT_TRUE(authorizer_.authorize_grant(kAdmin, parse_manifests(star).at(0)).allowed);
}

TEST_F(GrantTest, ABindingMayGrantOnlyARoleTheWriterHolds) {
  const std::string bind_operator = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-operates, namespace: team-a}
subjects: [{kind: User, name: alice}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: vm-operator}
)";
  EXPECT_TRUE(grant(bind_operator).allowed) << grant(bind_operator).reason;
  // bob does not hold the rules of a ClusterRole that allows everything.
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: all}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
)");
  const std::string bind_all = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-all, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: all}
)";
  Decision decision = grant(bind_all);
  EXPECT_FALSE(decision.allowed);
  EXPECT_NE(decision.reason.find("cannot grant * * in namespace \"team-a\""), std::string::npos)
      << decision.reason;
  EXPECT_NE(decision.reason.find("through RoleBinding \"bob-all\""), std::string::npos)
      << decision.reason;
  // A role that does not exist cannot be bound; one in the same manifest is looked at.
  const std::string bind_missing = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b2, namespace: team-a}
subjects: [{kind: User, name: alice}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: viewer}
)";
  decision = grant(bind_missing);
  EXPECT_FALSE(decision.allowed);
  EXPECT_NE(decision.reason.find("cannot bind Role \"viewer\""), std::string::npos)
      << decision.reason;
  EXPECT_NE(decision.reason.find("does not exist"), std::string::npos) << decision.reason;
  auto manifest = parse_manifests(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: viewer, namespace: team-a}
rules: [{apiGroups: [kubevirt.io], resources: [virtualmachines], verbs: [get]}]
)");
  EXPECT_TRUE(grant(bind_missing, manifest).allowed);
  // The bind verb on the role lifts the check.
  put(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: binder, namespace: team-a}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  verbs: [bind]
  resourceNames: [all]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-binds, namespace: team-a}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: binder}
)");
  EXPECT_TRUE(grant(bind_all).allowed);
}

}  // namespace
}  // namespace hal::controller::rbac
