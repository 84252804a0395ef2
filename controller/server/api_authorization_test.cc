// api_authorization_test.cc - the Controller API with mutual TLS in-process (no nodes): every RPC
// is authorized by RBAC from roles and bindings applied through the API itself; denials name the
// user, verb, resource and namespace; an admin may do everything; the escalation check holds;
// and each mutating call leaves its line in the audit log.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include "controller/pki/pki.h"
#include "controller/server/controller_server.h"
#include "controller/tls/credentials.h"
#include "hal/v1/controller.grpc.pb.h"
#include "testing/temp_dir.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string vm(const std::string &ns, const std::string &name) {
  return "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns +
         "\nspec:\n  runStrategy: Halted\n  template:\n    spec:\n      domain:\n"
         "        resources:\n          requests:\n            memory: 64Mi\n"
         "        devices: {}\n";
}

const char *const kTeamARbac = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: vm-operator, namespace: team-a}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, list, watch, create, update]
- apiGroups: [subresources.kubevirt.io]
  resources: [virtualmachines/start, virtualmachineinstances/migrate]
  verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-operate, namespace: team-a}
subjects: [{kind: Group, name: devs}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: vm-operator}
)";

class ApiAuthorization : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = dir_.path();
    pki::KeyAndCertificate ca = pki::create_ca("test-ca", 24h);
    pki::write_private_file(dir / "ca.crt", ca.certificate_pem);
    auto save = [&](const std::string &base, const pki::KeyAndCertificate &pair) {
      pki::write_private_file(dir / (base + ".crt"), pair.certificate_pem);
      pki::write_private_file(dir / (base + ".key"), pair.key_pem);
    };
    pki::CertificateRequest serving = pki::controller_request();
    serving.ip_addresses = {"127.0.0.1"};
    save("controller", pki::issue(ca, serving));
    save("admin", pki::issue(ca, pki::user_request("admin", {"system:admins"})));
    save("bob", pki::issue(ca, pki::user_request("bob", {"devs"})));
    save("carol", pki::issue(ca, pki::user_request("carol", {})));
    save("node", pki::issue(ca, pki::node_request("n1")));
    ControllerServerOptions options;
    options.store = "memory";
    options.tls = tls(dir, "controller");
    options.audit_log = (dir / "audit.log").string();
    server_ = std::make_unique<ControllerServer>(options);
    server_->start();
  }
  void TearDown() override { server_->stop(); }

  static tls::TlsOptions tls(const std::filesystem::path &dir, const std::string &base) {
    return tls::TlsOptions{(dir / "ca.crt").string(), (dir / (base + ".crt")).string(),
                           (dir / (base + ".key")).string(), false};
  }
  std::unique_ptr<v1::Controller::Stub> as(const std::string &who) {
    return v1::Controller::NewStub(
        grpc::CreateChannel(server_->address(), tls::channel_credentials(tls(dir_.path(), who))));
  }
  static std::unique_ptr<grpc::ClientContext> context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + 10s);
    return c;
  }
  grpc::Status apply(const std::string &who, const std::string &manifest) {
    v1::ApplyRequest request;
    request.set_manifest(manifest);
    v1::ApplyResponse response;
    return as(who)->Apply(context().get(), request, &response);
  }
  grpc::Status get(const std::string &who, const std::string &kind, const std::string &ns,
                   const std::string &name) {
    v1::ObjectKey key;
    key.set_kind(kind);
    key.set_namespace_(ns);
    key.set_name(name);
    v1::Object object;
    return as(who)->Get(context().get(), key, &object);
  }
  grpc::Status list(const std::string &who, const std::string &kind, const std::string &ns) {
    v1::ListRequest request;
    request.set_kind(kind);
    request.set_namespace_(ns);
    v1::ListResponse response;
    return as(who)->List(context().get(), request, &response);
  }
  grpc::Status start(const std::string &who, const std::string &ns, const std::string &name) {
    v1::VmActionRequest request;
    request.set_namespace_(ns);
    request.set_name(name);
    v1::Object object;
    return as(who)->Start(context().get(), request, &object);
  }
  std::vector<json> audit() {
    std::ifstream in(dir_.path() / "audit.log");
    std::vector<json> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(json::parse(line));
    return lines;
  }

  hal::testing::TempDir dir_;
  std::unique_ptr<ControllerServer> server_;
};

TEST_F(ApiAuthorization, WithoutABindingEveryCallIsDeniedByName) {
  grpc::Status status = get("carol", "vm", "prod", "web");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "user \"carol\" (no groups) cannot get virtualmachines in namespace \"prod\" (name "
            "\"web\", API group \"kubevirt.io\")");
  status = apply("bob", vm("prod", "web"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find(
                "user \"bob\" (groups devs) cannot create virtualmachines in namespace \"prod\""),
            std::string::npos)
      << status.error_message();
  // Nodes have no say on the user API either.
  status = list("node", "vms", "default");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("user \"system:node:n1\" (groups system:nodes) cannot "
                                        "list virtualmachines in namespace \"default\""),
            std::string::npos)
      << status.error_message();
  v1::DrainRequest drain;
  drain.set_node("n1");
  v1::DrainResponse drained;
  status = as("bob")->Drain(context().get(), drain, &drained);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("cannot update nodes/drain (cluster-scoped, name \"n1\""),
            std::string::npos)
      << status.error_message();
  // Denied changes are audited; reads are not.
  auto lines = audit();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["user"], "bob");
  EXPECT_EQ(lines[0]["groups"], json::array({"devs"}));
  EXPECT_EQ(lines[0]["call"], "Apply");
  EXPECT_EQ(lines[0]["verb"], "create");
  EXPECT_EQ(lines[0]["resource"], "virtualmachines");
  EXPECT_EQ(lines[0]["namespace"], "prod");
  EXPECT_EQ(lines[0]["name"], "web");
  EXPECT_EQ(lines[0]["result"]["decision"], "denied");
  EXPECT_EQ(lines[0]["result"]["code"], "PERMISSION_DENIED");
  EXPECT_EQ(lines[1]["call"], "Drain");
  EXPECT_EQ(lines[1]["resource"], "nodes/drain");
  EXPECT_EQ(lines[1]["namespace"], "");
}

TEST_F(ApiAuthorization, ARoleBindingGrantsItsNamespaceOnly) {
  ASSERT_TRUE(apply("admin", kTeamARbac).ok());
  EXPECT_TRUE(apply("bob", vm("team-a", "web")).ok());
  EXPECT_TRUE(start("bob", "team-a", "web").ok());
  EXPECT_TRUE(get("bob", "vm", "team-a", "web").ok());
  EXPECT_TRUE(list("bob", "vm", "team-a").ok());
  // Re-applying a changed VM is an update, which the role allows too.
  std::string changed = vm("team-a", "web");
  changed.replace(changed.find("64Mi"), 4, "96Mi");
  EXPECT_TRUE(apply("bob", changed).ok());
  // Not in team-b, not every namespace, not every kind, not delete.
  ASSERT_TRUE(apply("admin", vm("team-b", "db")).ok());
  grpc::Status status = apply("bob", vm("team-b", "web"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("cannot create virtualmachines in namespace \"team-b\""),
            std::string::npos);
  status = start("bob", "team-b", "db");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("cannot update virtualmachines/start in namespace "
                                        "\"team-b\" (name \"db\", API group "
                                        "\"subresources.kubevirt.io\")"),
            std::string::npos)
      << status.error_message();
  EXPECT_EQ(list("bob", "vm", "").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  status = list("bob", "", "team-a");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("cannot list virtualmachineinstances"), std::string::npos)
      << status.error_message();
  v1::ObjectKey key;
  key.set_kind("vm");
  key.set_namespace_("team-a");
  key.set_name("web");
  v1::DeleteResponse deleted;
  EXPECT_EQ(as("bob")->Delete(context().get(), key, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Migrate passes authorization through virtualmachineinstances/migrate (then finds no VMI).
  v1::MigrateRequest migrate;
  migrate.set_namespace_("team-a");
  migrate.set_name("web");
  v1::Object object;
  status = as("bob")->Migrate(context().get(), migrate, &object);
  EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  // A multi-document apply is authorized object by object: one refusal refuses it all.
  status = apply("bob", vm("team-a", "two") + "---\n" + vm("team-b", "three"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(get("admin", "vm", "team-a", "two").error_code(), grpc::StatusCode::NOT_FOUND);
  // bob may not write RBAC objects, nor give himself more.
  status = apply("bob",
                 "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: "
                 "x, namespace: team-a}\nsubjects: [{kind: User, name: bob}]\nroleRef: {apiGroup: "
                 "rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\n");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("cannot create rolebindings in namespace \"team-a\""),
            std::string::npos)
      << status.error_message();
  // The audit log has bob's calls in order, with the verb each object took.
  auto lines = audit();
  std::vector<std::string> summary;
  for (const json &line : lines) {
    if (line["user"] != "bob") continue;
    summary.push_back(line["call"].get<std::string>() + " " + line["verb"].get<std::string>() +
                      " " + line["resource"].get<std::string>() + " " +
                      line["namespace"].get<std::string>() + "/" + line["name"].get<std::string>() +
                      " " + line["result"]["decision"].get<std::string>() + " " +
                      line["result"]["code"].get<std::string>());
  }
  EXPECT_EQ(summary, (std::vector<std::string>{
                         "Apply create virtualmachines team-a/web allowed OK",
                         "Start update virtualmachines/start team-a/web allowed OK",
                         "Apply update virtualmachines team-a/web allowed OK",
                         "Apply create virtualmachines team-b/web denied PERMISSION_DENIED",
                         "Start update virtualmachines/start team-b/db denied PERMISSION_DENIED",
                         "Delete delete virtualmachines team-a/web denied PERMISSION_DENIED",
                         "Migrate update virtualmachineinstances/migrate team-a/web allowed "
                         "NOT_FOUND",
                         "Apply create virtualmachines team-b/three denied PERMISSION_DENIED",
                         "Apply create rolebindings team-a/x denied PERMISSION_DENIED"}));
  // The admin's RBAC change is there too.
  EXPECT_EQ(lines[0]["user"], "admin");
  EXPECT_EQ(lines[0]["resource"], "roles");
  EXPECT_EQ(lines[1]["resource"], "rolebindings");
  EXPECT_EQ(lines[1]["result"]["decision"], "allowed");
}

TEST_F(ApiAuthorization, AClusterRoleBindingGrantsEveryNamespaceAndRemovingItRevokes) {
  const std::string binding = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "vm-reader"}
rules:
- apiGroups: [kubevirt.io]
  resources: ["*"]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: carol-reads}
subjects: [{kind: User, name: carol}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "vm-reader"}
)";
  ASSERT_TRUE(apply("admin", binding).ok());
  ASSERT_TRUE(apply("admin", vm("team-b", "db")).ok());
  EXPECT_TRUE(get("carol", "vm", "team-b", "db").ok());
  EXPECT_TRUE(list("carol", "vmis", "").ok());
  EXPECT_EQ(apply("carol", vm("team-b", "x")).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::ObjectKey key;
  key.set_kind("clusterrolebinding");
  key.set_name("carol-reads");
  v1::DeleteResponse deleted;
  ASSERT_TRUE(as("admin")->Delete(context().get(), key, &deleted).ok());
  EXPECT_EQ(get("carol", "vm", "team-b", "db").error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace hal::controller
