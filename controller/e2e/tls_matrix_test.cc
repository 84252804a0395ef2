// tls_matrix_test.cc - who may talk to a HAL installation running with security on (the
// default): real hal-controller and hal-node processes (a mock node) with the cluster's mutual
// TLS, and clients that are the halctl binary or gRPC stubs presenting each kind of identity.
// Each denied path must be refused with a reason that says why; the allowed paths must work.
// A node without a certificate joins with a bootstrap token, and only with a good one.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "controller/e2e/cluster.h"
#include "controller/pki/bootstrap_token.h"
#include "controller/pki/certificate.h"
#include "controller/pki/pki.h"
#include "hal/v1/controller.grpc.pb.h"
#include "hal/v1/node.grpc.pb.h"

namespace hal::e2e {
namespace {

using namespace std::chrono_literals;

std::string read(const std::string &path) {
  return pki::read_file(path, "file");
}

// Credentials presenting pki/<base>.crt and trusting `ca_file`; no client certificate when
// `base` is empty.
std::shared_ptr<grpc::ChannelCredentials> tls_as(const std::string &dir, const std::string &base,
                                                 const std::string &ca_file = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read(ca_file.empty() ? dir + "/ca.crt" : ca_file);
  if (!base.empty()) {
    ssl.pem_cert_chain = read(dir + "/" + base + ".crt");
    ssl.pem_private_key = read(dir + "/" + base + ".key");
  }
  return grpc::SslCredentials(ssl);
}

std::unique_ptr<grpc::ClientContext> deadline(std::chrono::seconds seconds = 5s) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + seconds);
  return context;
}

grpc::Status list_nodes(const std::string &address,
                        const std::shared_ptr<grpc::ChannelCredentials> &credentials) {
  auto stub = v1::Controller::NewStub(grpc::CreateChannel(address, credentials));
  v1::ListRequest request;
  request.set_kind("Node");
  v1::ListResponse response;
  return stub->List(deadline().get(), request, &response);
}

class TlsMatrix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions options;
    options.nodes = {{"mock-a", "mock"}};
    options.nodepools_file = HAL_SOURCE_DIR "/examples/manifests/nodepools.yaml";
    options.bootstrap = true;
    // halctl runs below on flags alone: no ~/.hal/config or $HALCONFIG of the user's.
    unsetenv("HALCONFIG");
    cluster_ = new Cluster(Binaries{HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH},
                           options);
    const std::string dir = cluster_->pki_dir();
    pki::KeyAndCertificate ca{read(dir + "/ca.crt"), read(dir + "/ca.key")};
    auto save = [&](const std::string &base, const pki::KeyAndCertificate &pair) {
      pki::write_private_file(dir + "/" + base + ".crt", pair.certificate_pem);
      pki::write_private_file(dir + "/" + base + ".key", pair.key_pem);
    };
    save("user-alice", pki::issue(ca, pki::user_request("alice", {"developers"})));
    pki::CertificateRequest late = pki::user_request("late", {});
    late.validity = 1h;
    late.backdate = 2h;
    save("user-late", pki::issue(ca, late));
    pki::KeyAndCertificate other = pki::create_ca("other-ca", 24h);
    save("other-ca", other);
    save("user-mallory", pki::issue(other, pki::user_request("mallory", {"system:admins"})));
    pki::CertificateRequest fake_node = pki::node_request("mock-a");
    fake_node.ip_addresses = {"127.0.0.1"};
    save("other-node", pki::issue(other, fake_node));
    setenv("HOME", cluster_->dir().c_str(), 1);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  // halctl get nodes with --tls-* of pki/<base> (and the CA file `ca`), without the config.
  testing::RunResult halctl_as(const std::string &base, const std::string &ca = "") {
    const std::string dir = cluster_->pki_dir();
    return testing::run_to_completion(
        {HALCTL_BIN, "--server", cluster_->address(), "--tls-ca", ca.empty() ? dir + "/ca.crt" : ca,
         "--tls-cert", dir + "/" + base + ".crt", "--tls-key", dir + "/" + base + ".key", "get",
         "nodes"},
        20s);
  }
  static Cluster *cluster_;
};

Cluster *TlsMatrix::cluster_ = nullptr;

TEST_F(TlsMatrix, AdminThroughTheConfigFileIsAllowed) {
  auto r = cluster_->halctl({"get", "nodes"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("mock-a"), std::string::npos) << r.out;
}

TEST_F(TlsMatrix, AnyUserOfTheClusterCaIsAuthenticatedThenAuthorized) {
  // alice's certificate gets her past TLS; without a binding RBAC refuses her by name
  // (rbac_test.cc has the bindings).
  auto r = halctl_as("user-alice");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("Error from server (PERMISSION_DENIED): user \"alice\" (groups "
                       "developers) cannot list nodes"),
            std::string::npos)
      << r.err;
  grpc::Status status = list_nodes(cluster_->address(), tls_as(cluster_->pki_dir(), "user-alice"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
}

TEST_F(TlsMatrix, ClientWithoutCertificateIsRefused) {
  grpc::Status status = list_nodes(cluster_->address(), tls_as(cluster_->pki_dir(), ""));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        return read(cluster_->dir() + "/controller.log")
                   .find("peer did not return a certificate") != std::string::npos;
      },
      5s));
}

TEST_F(TlsMatrix, PlaintextClientIsRefused) {
  grpc::Status status = list_nodes(cluster_->address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  auto r = testing::run_to_completion(
      {HALCTL_BIN, "--insecure", "--server", cluster_->address(), "get", "nodes"}, 20s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("without TLS (--insecure)"), std::string::npos) << r.err;
}

TEST_F(TlsMatrix, CertificateOfAnotherCaIsRefused) {
  const std::string dir = cluster_->pki_dir();
  // The server refuses it in the handshake...
  grpc::Status status = list_nodes(cluster_->address(), tls_as(dir, "user-mallory"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // ...and halctl says so before dialling, naming the certificate and the CA.
  auto r = halctl_as("user-mallory");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("user-mallory.crt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not trusted by CA"), std::string::npos) << r.err;
}

TEST_F(TlsMatrix, ServerRefusalOfAForeignCertificateIsExplainedAndLogged) {
  // halctl trusts both CAs, so its own check passes; the controller refuses the certificate.
  const std::string dir = cluster_->pki_dir();
  pki::write_private_file(dir + "/both-cas.crt",
                          read(dir + "/ca.crt") + read(dir + "/other-ca.crt"));
  auto r = halctl_as("user-mallory", dir + "/both-cas.crt");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("did not accept your client certificate " + dir + "/user-mallory.crt"),
            std::string::npos)
      << r.err;
  // The controller's log says why (gRPC logs OpenSSL's reason for each failed handshake).
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        return read(cluster_->dir() + "/controller.log").find("certificate verify failed") !=
               std::string::npos;
      },
      5s));
}

TEST_F(TlsMatrix, ServerOfAnotherCaIsRefusedByTheClient) {
  // halctl trusts only the other CA (and presents a certificate of it): the controller's
  // certificate does not verify.
  const std::string dir = cluster_->pki_dir();
  auto r = halctl_as("user-mallory", dir + "/other-ca.crt");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("Error from server (UNAVAILABLE)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wrong CA"), std::string::npos) << r.err;
}

TEST_F(TlsMatrix, ExpiredCertificateIsRefusedAsExpired) {
  const std::string dir = cluster_->pki_dir();
  grpc::Status status = list_nodes(cluster_->address(), tls_as(dir, "user-late"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  auto r = halctl_as("user-late");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("user-late.crt (CN=late) expired at"), std::string::npos) << r.err;
}

TEST_F(TlsMatrix, NodeMayRegisterOnlyAsItself) {
  const std::string dir = cluster_->pki_dir();
  auto registry = [&](const std::string &base) {
    return v1::NodeRegistry::NewStub(grpc::CreateChannel(cluster_->address(), tls_as(dir, base)));
  };
  v1::RegisterNodeRequest request;
  request.mutable_node()->set_name("mock-b");
  request.mutable_node()->set_address("127.0.0.1:1");
  v1::RegisterNodeResponse response;
  grpc::Status status = registry("node-mock-a")->Register(deadline().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_NE(status.error_message().find("user 'system:node:mock-a'"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("Register for node 'mock-b'"), std::string::npos)
      << status.error_message();
  // A user is no node either, not even for a name of its own choosing.
  request.mutable_node()->set_name("alice");
  status = registry("user-alice")->Register(deadline().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_node_name("mock-a");
  v1::HeartbeatResponse beat;
  status = registry("user-alice")->Heartbeat(deadline().get(), heartbeat, &beat);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  // The node itself may heartbeat.
  status = registry("node-mock-a")->Heartbeat(deadline().get(), heartbeat, &beat);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsMatrix, OnlyTheControllerMayDriveANode) {
  const std::string dir = cluster_->pki_dir();
  const std::string node = cluster_->node_address("mock-a");
  ASSERT_FALSE(node.empty());
  auto agent = [&](const std::shared_ptr<grpc::ChannelCredentials> &credentials) {
    return v1::NodeAgent::NewStub(grpc::CreateChannel(node, credentials));
  };
  v1::CreateVmRequest create;
  create.set_backend("mock");
  create.set_spec_json(R"({"name":"intruder"})");
  v1::VmStatus vm;
  for (const char *base : {"user-alice", "user-admin", "node-mock-a"}) {
    grpc::Status status = agent(tls_as(dir, base))->CreateVm(deadline().get(), create, &vm);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << base << ": " << status.error_message();
    EXPECT_NE(status.error_message().find("may not call NodeAgent/CreateVm"), std::string::npos)
        << status.error_message();
    EXPECT_NE(status.error_message().find("only the controller"), std::string::npos)
        << status.error_message();
  }
  grpc::Status status = agent(tls_as(dir, "user-alice"))->CreateVm(deadline().get(), create, &vm);
  EXPECT_NE(status.error_message().find("user 'alice' (groups developers)"), std::string::npos)
      << status.error_message();
  // No certificate, another CA's certificate (even one named as this node), plaintext.
  for (const auto &credentials :
       {tls_as(dir, ""), tls_as(dir, "other-node"), grpc::InsecureChannelCredentials()}) {
    status = agent(credentials)->CreateVm(deadline().get(), create, &vm);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  // The controller's identity is allowed.
  v1::NodeInfo info;
  status = agent(tls_as(dir, "controller"))
               ->GetNodeInfo(deadline().get(), v1::GetNodeInfoRequest(), &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.name(), "mock-a");
  v1::ListVmsResponse vms;
  status = agent(tls_as(dir, "controller"))->ListVms(deadline().get(), v1::ListVmsRequest(), &vms);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (const auto &listed : vms.vms()) EXPECT_NE(listed.vm_id(), "intruder");
}

TEST_F(TlsMatrix, NodeConsoleServesOnlyTheController) {
  const std::string dir = cluster_->pki_dir();
  const std::string node = cluster_->node_address("mock-a");
  auto console = [&](const std::shared_ptr<grpc::ChannelCredentials> &credentials) {
    auto stub = v1::NodeAgent::NewStub(grpc::CreateChannel(node, credentials));
    auto context = deadline();
    auto stream = stub->Console(context.get());
    v1::ConsoleChunk first;
    first.set_vm_id("no-such-vm");
    stream->Write(first);
    stream->WritesDone();
    v1::ConsoleChunk chunk;
    while (stream->Read(&chunk)) {
    }
    return stream->Finish();
  };
  // Users (the admin too) and nodes reach a console only through the controller.
  for (const char *base : {"user-alice", "user-admin", "node-mock-a"}) {
    grpc::Status status = console(tls_as(dir, base));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << base << ": " << status.error_message();
    EXPECT_NE(status.error_message().find("may not call NodeAgent/Console"), std::string::npos)
        << status.error_message();
  }
  grpc::Status status = console(tls_as(dir, "user-alice"));
  EXPECT_NE(status.error_message().find("user 'alice' (groups developers)"), std::string::npos)
      << status.error_message();
  // The controller gets past authentication to the VM lookup.
  status = console(tls_as(dir, "controller"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  status = console(grpc::InsecureChannelCredentials());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsMatrix, ConsoleThroughTheControllerNamesWhatIsMissing) {
  auto stub = v1::Controller::NewStub(
      grpc::CreateChannel(cluster_->address(), tls_as(cluster_->pki_dir(), "user-admin")));
  auto context = deadline();
  auto stream = stub->Console(context.get());
  v1::ConsoleInput first;
  first.set_name("absent");
  stream->Write(first);
  v1::ConsoleOutput output;
  EXPECT_FALSE(stream->Read(&output));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_NE(status.error_message().find("VirtualMachineInstance default/absent not found"),
            std::string::npos)
      << status.error_message();
}

TEST_F(TlsMatrix, NodeJoinsWithABootstrapTokenAndOnlyWithAGoodOne) {
  const std::string dir = cluster_->pki_dir();
  const std::string ca_key = read(dir + "/ca.key");
  const std::string cert = cluster_->dir() + "/join-a.crt";
  auto node_args = [&](const std::string &token) {
    return std::vector<std::string>{HAL_NODE_BIN,
                                    "--name",
                                    "join-a",
                                    "--pool",
                                    "mock",
                                    "--pool-file",
                                    HAL_SOURCE_DIR "/examples/manifests/nodepools.yaml",
                                    "--listen",
                                    "127.0.0.1:0",
                                    "--controller",
                                    cluster_->address(),
                                    "--state-dir",
                                    cluster_->dir() + "/join-a",
                                    "--plugin-path",
                                    HAL_PLUGIN_PATH,
                                    "--heartbeat-interval-ms",
                                    "500",
                                    "--tls-ca",
                                    dir + "/ca.crt",
                                    "--tls-cert",
                                    cert,
                                    "--tls-key",
                                    cluster_->dir() + "/join-a.key",
                                    "--bootstrap-token",
                                    token,
                                    "--bootstrap-server",
                                    cluster_->bootstrap_address()};
  };
  ASSERT_FALSE(cluster_->bootstrap_address().empty());
  const auto now = std::chrono::system_clock::now();
  const std::vector<std::pair<std::string, std::string>> refused = {
      {pki::mint_bootstrap_token(ca_key, "join-b", now + 10min), "issued for node 'join-b'"},
      {pki::mint_bootstrap_token(ca_key, "join-a", now - 1min), "expired at"},
      {pki::mint_bootstrap_token(read(dir + "/other-ca.key"), "join-a", now + 10min),
       "not issued by this cluster's CA"}};
  int attempt = 0;
  for (const auto &[token, reason] : refused) {
    const std::string log = cluster_->dir() + "/join-a-" + std::to_string(++attempt) + ".log";
    testing::ChildProcess node(node_args(token), log);
    std::optional<int> status = node.wait(20s);
    ASSERT_TRUE(status) << read(log);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << read(log);
    EXPECT_NE(read(log).find(reason), std::string::npos) << read(log);
    EXPECT_FALSE(std::filesystem::exists(cert));
  }
  // The good token: the node gets its certificate, registers with it and is Ready.
  testing::ChildProcess node(node_args(pki::mint_bootstrap_token(ca_key, "join-a", now + 10min)),
                             cluster_->dir() + "/join-a.log");
  const bool ready = Cluster::wait_until(
      [&] {
        auto r = cluster_->halctl({"get", "nodes"}, 5s);
        return std::regex_search(r.out, std::regex("join-a +Ready"));
      },
      30s);
  EXPECT_TRUE(ready) << read(cluster_->dir() + "/join-a.log");
  ASSERT_TRUE(std::filesystem::exists(cert));
  EXPECT_EQ(pki::inspect_certificate(read(cert)).common_name, "system:node:join-a");
  struct stat st {};
  ASSERT_EQ(::stat((cluster_->dir() + "/join-a.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace hal::e2e
