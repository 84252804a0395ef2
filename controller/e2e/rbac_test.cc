// rbac_test.cc - authorization and audit with real processes: a hal-controller with mutual TLS
// and a mock node, and the halctl binary presenting users' certificates. A user without a binding
// is denied by name; RoleBindings grant one namespace (examples/manifests/rbac-team-a.yaml),
// ClusterRoleBindings every one; the admin group may do everything; and the controller's audit
// log (audit.log next to its store) holds a line for each of those changes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "controller/e2e/cluster.h"

namespace hal::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string mock_vm(const std::string &ns, const std::string &name) {
  return "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns +
         "\nspec:\n  running: false\n  template:\n    spec:\n      nodeSelector:\n"
         "        hal.dev/pool: mock\n      domain:\n        resources:\n          requests:\n"
         "            memory: 64Mi\n        devices: {}\n";
}

class Rbac : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions options;
    options.nodes = {{"mock-a", "mock"}};
    options.nodepools_file = HAL_SOURCE_DIR "/examples/manifests/nodepools.yaml";
    unsetenv("HALCONFIG");  // Users below run halctl on flags alone.
    cluster_ = new Cluster(Binaries{HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH},
                           options);
    cluster_->issue_user("carol", {});
    cluster_->issue_user("bob", {"team-a"});
    cluster_->issue_user("eve", {"auditors"});
    setenv("HOME", cluster_->dir().c_str(), 1);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  // halctl as `user` (its certificate), with `args` and stdin `input`.
  static testing::RunResult as(const std::string &user, const std::vector<std::string> &args,
                               const std::string &input = "") {
    const std::string dir = cluster_->pki_dir();
    std::vector<std::string> argv = {HALCTL_BIN,
                                     "--server",
                                     cluster_->address(),
                                     "--tls-ca",
                                     dir + "/ca.crt",
                                     "--tls-cert",
                                     dir + "/user-" + user + ".crt",
                                     "--tls-key",
                                     dir + "/user-" + user + ".key"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_to_completion(argv, 20s, input);
  }
  static testing::RunResult admin(const std::vector<std::string> &args,
                                  const std::string &input = "") {
    return cluster_->halctl(args, 20s, input);
  }
  static std::vector<json> audit() {
    std::ifstream in(cluster_->dir() + "/audit.log");
    std::vector<json> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(json::parse(line));
    return lines;
  }
  // The audit lines of `user`, each as "CALL VERB RESOURCE NS/NAME DECISION CODE".
  static std::vector<std::string> audited(const std::string &user) {
    std::vector<std::string> out;
    for (const json &l : audit()) {
      if (l["user"] != user) continue;
      out.push_back(l["call"].get<std::string>() + " " + l["verb"].get<std::string>() + " " +
                    l["resource"].get<std::string>() + " " + l["namespace"].get<std::string>() +
                    "/" + l["name"].get<std::string>() + " " +
                    l["result"]["decision"].get<std::string>() + " " +
                    l["result"]["code"].get<std::string>());
    }
    return out;
  }
  static Cluster *cluster_;
};

Cluster *Rbac::cluster_ = nullptr;

TEST_F(Rbac, AUserWithoutABindingIsDeniedByName) {
  auto r = as("carol", {"-n", "prod", "get", "vm", "web"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("Error from server (PERMISSION_DENIED): user \"carol\" (no groups) cannot "
                       "get virtualmachines in namespace \"prod\""),
            std::string::npos)
      << r.err;
  r = as("carol", {"apply", "-f", "-"}, mock_vm("prod", "web"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("user \"carol\" (no groups) cannot create virtualmachines in namespace "
                       "\"prod\" (name \"web\", API group \"kubevirt.io\")"),
            std::string::npos)
      << r.err;
  r = as("carol", {"get", "nodes"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot list nodes (cluster-scoped"), std::string::npos) << r.err;
  EXPECT_EQ(
      audited("carol"),
      std::vector<std::string>{"Apply create virtualmachines prod/web denied PERMISSION_DENIED"});
}

TEST_F(Rbac, ARoleBindingGrantsItsNamespaceAndAClusterRoleBindingEveryOne) {
  auto r = admin({"apply", "-f", HAL_SOURCE_DIR "/examples/manifests/rbac-team-a.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // bob (group team-a) runs a VM in team-a: create, start, see it Running, read its events.
  r = as("bob", {"apply", "-f", "-"}, mock_vm("team-a", "web"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = as("bob", {"-n", "team-a", "start", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const bool running = Cluster::wait_until(
      [] {
        auto got = as("bob", {"-n", "team-a", "get", "vmi", "web", "-o", "json"});
        return got.exit_code == 0 && json::parse(got.out, nullptr, false)
                                             .value("status", json::object())
                                             .value("phase", "") == "Running";
      },
      30s);
  EXPECT_TRUE(running) << cluster_->logs_tail();
  r = as("bob", {"-n", "team-a", "describe", "vm", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Not in team-b, where the admin may do everything.
  r = admin({"apply", "-f", "-"}, mock_vm("team-b", "db"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = as("bob", {"apply", "-f", "-"}, mock_vm("team-b", "web"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("user \"bob\" (groups team-a) cannot create virtualmachines in namespace "
                       "\"team-b\""),
            std::string::npos)
      << r.err;
  r = as("bob", {"-n", "team-b", "start", "db"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot update virtualmachines/start in namespace \"team-b\""),
            std::string::npos)
      << r.err;
  r = as("bob", {"get", "vms", "-A"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot list virtualmachines in all namespaces"), std::string::npos)
      << r.err;
  // eve (group auditors) reads VMs everywhere through the ClusterRoleBinding, changes nothing.
  r = as("eve", {"get", "vms", "-A"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("web"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("db"), std::string::npos) << r.out;
  r = as("eve", {"-n", "team-a", "stop", "web"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("user \"eve\" (groups auditors) cannot update virtualmachines/stop in "
                       "namespace \"team-a\""),
            std::string::npos)
      << r.err;
  // The admin deletes across namespaces.
  r = admin({"-n", "team-b", "delete", "vm", "db"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Every change is in the audit log: the admin's RBAC objects and delete, bob's and eve's calls.
  auto lines = audited("admin");
  ASSERT_GE(lines.size(), 6u);
  const std::vector<std::string> rbac(lines.end() - 6, lines.end() - 2);
  EXPECT_EQ(rbac, (std::vector<std::string>{
                      "Apply create roles team-a/vm-operator allowed OK",
                      "Apply create rolebindings team-a/team-a-operates-vms allowed OK",
                      "Apply create clusterroles /vm-viewer allowed OK",
                      "Apply create clusterrolebindings /auditors-view-vms allowed OK"}));
  EXPECT_EQ(lines.back(), "Delete delete virtualmachines team-b/db allowed OK");
  EXPECT_EQ(audited("bob"),
            (std::vector<std::string>{
                "Apply create virtualmachines team-a/web allowed OK",
                "Start update virtualmachines/start team-a/web allowed OK",
                "Apply create virtualmachines team-b/web denied PERMISSION_DENIED",
                "Start update virtualmachines/start team-b/db denied PERMISSION_DENIED"}));
  EXPECT_EQ(audited("eve"), std::vector<std::string>{"Stop update virtualmachines/stop "
                                                     "team-a/web denied PERMISSION_DENIED"});
  const json last = audit().back();
  EXPECT_EQ(last["groups"], json::array({"system:admins"}));
  EXPECT_EQ(last["time"].get<std::string>().size(), 24u) << last["time"];  // ...:05.123Z
}

}  // namespace
}  // namespace hal::e2e
