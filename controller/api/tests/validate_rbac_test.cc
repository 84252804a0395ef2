// validate_rbac_test.cc - validate_object on the RBAC kinds (Role, ClusterRole, RoleBinding,
// ClusterRoleBinding): valid manifests in Kubernetes' shape pass, and each mistake is named by
// its field; the resource table and kind names behind them.
#include <gtest/gtest.h>

#include "controller/api/rbac_api.h"
#include "controller/api/tests/test_util.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using testing::dump;
using testing::has_error;
using testing::one;

std::vector<FieldError> errors_of(const std::string &yaml) {
  return validate_object(one(yaml));
}

const char *const kRole = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: vm-operator
  namespace: team-a
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines, virtualmachineinstances]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [subresources.kubevirt.io]
  resources: [virtualmachines/start, virtualmachines/stop, virtualmachineinstances/console]
  verbs: [get, update]
  resourceNames: [web]
)";

TEST(ValidateRbac, RoleAndClusterRoleInKubernetesShapeAreValid) {
  auto e = errors_of(kRole);
  EXPECT_TRUE(e.empty()) << dump(e);
  e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubevirt.io:view
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
- apiGroups: [subresources.kubevirt.io]
  resources: ["*/console"]
  verbs: [get]
- apiGroups: [hal.dev]
  resources: [nodes, nodepools, nodes/drain]
  verbs: [get, list, update]
- apiGroups: [""]
  resources: [events]
  verbs: [list]
)");
  EXPECT_TRUE(e.empty()) << dump(e);
  // A role without rules grants nothing but is valid.
  e = errors_of("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n");
  EXPECT_TRUE(e.empty()) << dump(e);
}

TEST(ValidateRbac, RuleMistakesAreNamedByField) {
  auto e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bad
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachine, virtualmachines/start]
  verbs: [get, start]
- apiGroups: [apps]
  resources: ["*/reboot"]
  verbs: []
- resources: [virtualmachines]
  verbs: [get]
  nonResourceURLs: [/healthz]
- apiGroups: [kubevirt.io]
  resources: virtualmachines
  verbs: [get]
  resourceNames: [1]
)");
  EXPECT_TRUE(has_error(e, "rules[0].resources[0]", "unknown resource \"virtualmachine\""))
      << dump(e);
  EXPECT_TRUE(has_error(e, "rules[0].resources[1]",
                        "served in API group \"subresources.kubevirt.io\", which apiGroups does "
                        "not list"))
      << dump(e);
  EXPECT_TRUE(has_error(e, "rules[0].verbs[1]",
                        "virtualmachines/start in API group "
                        "subresources.kubevirt.io"))
      << dump(e);
  EXPECT_TRUE(has_error(e, "rules[1].apiGroups[0]", "not an API group HAL serves")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules[1].resources[0]", "names no subresource")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules[1].verbs", "must not be empty")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules[2].apiGroups", "is required")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules[2].nonResourceURLs", "not served by HAL")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules[3].resources", "must be a list of strings")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules[3].resourceNames[0]", "must be a string")) << dump(e);
}

TEST(ValidateRbac, RoleMetadataAndTopLevel) {
  auto e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: Admin_Role
  namespace: team-a
aggregationRule: {}
spec: {}
rules: {}
)");
  EXPECT_TRUE(has_error(e, "metadata.name", "lower-case letters, digits")) << dump(e);
  EXPECT_TRUE(has_error(e, "metadata.namespace", "ClusterRole is cluster-scoped")) << dump(e);
  EXPECT_TRUE(has_error(e, "aggregationRule", "not supported by HAL")) << dump(e);
  EXPECT_TRUE(has_error(e, "spec", "unknown field")) << dump(e);
  EXPECT_TRUE(has_error(e, "rules", "must be a list of rules")) << dump(e);
  e = errors_of(
      "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata:\n"
      "  name: r\n");
  EXPECT_TRUE(has_error(e, "apiVersion", "served as rbac.authorization.k8s.io/v1")) << dump(e);
}

TEST(ValidateRbac, BindingsInKubernetesShapeAreValid) {
  auto e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: alice-operates
  namespace: team-a
subjects:
- kind: User
  name: alice
  apiGroup: rbac.authorization.k8s.io
- kind: Group
  name: developers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kubevirt.io:edit
)");
  EXPECT_TRUE(e.empty()) << dump(e);
  e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ops
subjects:
- kind: Group
  name: ops
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
)");
  EXPECT_TRUE(e.empty()) << dump(e);
}

TEST(ValidateRbac, BindingMistakesAreNamedByField) {
  auto e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: b
  namespace: team-a
subjects:
- kind: ServiceAccount
  name: default
  namespace: kube-system
- kind: Robot
  name: ""
  apiGroup: example.com
- name: bob
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: r
)");
  EXPECT_TRUE(has_error(e, "metadata.namespace", "cluster-scoped")) << dump(e);
  EXPECT_TRUE(has_error(e, "subjects[0].namespace", "no service accounts")) << dump(e);
  EXPECT_TRUE(has_error(e, "subjects[0].kind", "HAL has no service accounts")) << dump(e);
  EXPECT_TRUE(has_error(e, "subjects[1].kind", "must be User or Group")) << dump(e);
  EXPECT_TRUE(has_error(e, "subjects[1].name", "is required")) << dump(e);
  EXPECT_TRUE(has_error(e, "subjects[1].apiGroup", "must be rbac.authorization.k8s.io")) << dump(e);
  EXPECT_TRUE(has_error(e, "subjects[2].kind", "is required")) << dump(e);
  EXPECT_TRUE(has_error(e, "roleRef.kind", "can only refer to a ClusterRole")) << dump(e);
  e = errors_of(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: b
subjects: {}
roleRef:
  kind: Secret
)");
  EXPECT_TRUE(has_error(e, "subjects", "must be a list of subjects")) << dump(e);
  EXPECT_TRUE(has_error(e, "roleRef.apiGroup", "is required")) << dump(e);
  EXPECT_TRUE(has_error(e, "roleRef.kind", "must be Role or ClusterRole")) << dump(e);
  EXPECT_TRUE(has_error(e, "roleRef.name", "is required")) << dump(e);
  e = errors_of(
      "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n"
      "  name: b\n");
  EXPECT_TRUE(has_error(e, "roleRef", "is required")) << dump(e);
}

TEST(ValidateRbac, DefaultsPutNamespacedRbacObjectsInDefault) {
  json role = apply_defaults(
      one("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: b\n"));
  EXPECT_EQ(role["metadata"]["namespace"], "default");
  json cluster = apply_defaults(
      one("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: c\n"));
  EXPECT_FALSE(cluster["metadata"].contains("namespace"));
}

TEST(RbacApi, KindNamesAndResources) {
  EXPECT_EQ(canonical_kind("rolebindings"), "RoleBinding");
  EXPECT_EQ(canonical_kind("ClusterRole"), "ClusterRole");
  EXPECT_EQ(canonical_kind("clusterrolebinding"), "ClusterRoleBinding");
  EXPECT_EQ(canonical_kind("roles"), "Role");
  EXPECT_TRUE(is_cluster_scoped_kind("ClusterRoleBinding"));
  EXPECT_FALSE(is_cluster_scoped_kind("RoleBinding"));
  EXPECT_EQ(resource_of_kind("VirtualMachine")->name, "virtualmachines");
  EXPECT_EQ(resource_of_kind("VirtualMachine")->group, "kubevirt.io");
  EXPECT_EQ(find_api_resource("virtualmachineinstances/console")->group,
            "subresources.kubevirt.io");
  EXPECT_FALSE(find_api_resource("nodes/drain")->namespaced);
  EXPECT_FALSE(resource_of_kind("Pod"));
  EXPECT_TRUE(is_rbac_verb("*"));
  EXPECT_FALSE(is_rbac_verb("start"));
}

}  // namespace
}  // namespace hal::controller
