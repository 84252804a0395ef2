// node_restriction_test.cc - who may reach a running VM on a secured single-machine installation
// (real hal-controller and hal-node processes over mutual TLS, QEMU under TCG booting the test
// guest on node qemu-a, a mock node mock-b): the console only through the controller (which
// authorises and relays it), nodes acting only for themselves, and a local user without
// credentials reaching nothing (the second half runs as a throwaway system user, so it needs
// root; it is skipped otherwise).
#include <fcntl.h>
#include <grp.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "controller/e2e/cluster.h"
#include "controller/pki/pki.h"
#include "hal/v1/controller.grpc.pb.h"
#include "hal/v1/node.grpc.pb.h"
#include "testing/test_guest.h"

namespace hal::e2e {
namespace {

using namespace std::chrono_literals;

const std::string kVmId = "default-testguest";

std::string read(const std::string &path) {
  return pki::read_file(path, "file");
}

// Credentials presenting pki/<base>.crt of `dir`, trusting its CA.
std::shared_ptr<grpc::ChannelCredentials> tls_as(const std::string &dir, const std::string &base) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read(dir + "/ca.crt");
  ssl.pem_cert_chain = read(dir + "/" + base + ".crt");
  ssl.pem_private_key = read(dir + "/" + base + ".key");
  return grpc::SslCredentials(ssl);
}

std::unique_ptr<grpc::ClientContext> deadline(std::chrono::seconds seconds = 10s) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + seconds);
  return context;
}

// The installation every test here shares (one guest boot), made by the first test that needs
// it and stopped when the program ends.
class Installation : public ::testing::Environment {
 public:
  // The running installation with the guest heartbeating on qemu-a; null with `skip` set when
  // this machine cannot run it.
  static Cluster *get(std::string *skip) {
    if (!tried_) {
      tried_ = true;
      start();
    }
    *skip = skip_;
    return cluster_.get();
  }
  void TearDown() override { cluster_.reset(); }

 private:
  static void start() {
    std::string why;
    auto guest = hal::testing::test_guest_dir(&why);
    if (!guest) {
      skip_ = "test guest unavailable: " + why;
      return;
    }
    if (hal::testing::run_to_completion({"/bin/sh", "-c", "command -v qemu-system-x86_64"}, 5s)
            .exit_code != 0) {
      skip_ = "qemu-system-x86_64 not installed";
      return;
    }
    unsetenv("HALCONFIG");
    ClusterOptions options;
    options.nodes = {{"qemu-a", "qemu"}, {"mock-b", "mock"}};
    options.nodepools_file = HAL_SOURCE_DIR "/examples/manifests/nodepools.yaml";
    options.test_guest_dir = *guest;
    cluster_ = std::make_unique<Cluster>(
        Binaries{HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH}, options);
    const std::string dir = cluster_->pki_dir();
    pki::KeyAndCertificate ca{read(dir + "/ca.crt"), read(dir + "/ca.key")};
    pki::KeyAndCertificate alice = pki::issue(ca, pki::user_request("alice", {"developers"}));
    pki::write_private_file(dir + "/user-alice.crt", alice.certificate_pem);
    pki::write_private_file(dir + "/user-alice.key", alice.key_pem);
    auto applied =
        cluster_->halctl({"apply", "-f", HAL_SOURCE_DIR "/examples/manifests/testguest-vm.yaml"});
    if (applied.exit_code != 0)
      throw std::runtime_error("apply failed: " + applied.out + applied.err);
    const bool running = Cluster::wait_until(
        [&] {
          auto vmi = cluster_->get("vmi", "testguest");
          return !vmi.is_null() && vmi["status"].value("phase", "") == "Running" &&
                 last_heartbeat(cluster_->console_log("qemu-a", kVmId)).first > 0;
        },
        120s);
    if (!running) throw std::runtime_error("the guest never ran:\n" + cluster_->logs_tail());
  }

  static inline bool tried_ = false;
  static inline std::string skip_;
  static inline std::unique_ptr<Cluster> cluster_;
};

[[maybe_unused]] ::testing::Environment *const kInstallation =
    ::testing::AddGlobalTestEnvironment(new Installation);

class NodeRestriction : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    cluster_ = Installation::get(&skip);
    if (!cluster_) GTEST_SKIP() << skip;
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->logs_tail() << "\n";
  }
  // The guest is still the one it was and still heartbeats (on qemu-a, its QEMU `pid`).
  void expect_guest_untouched(int pid) {
    EXPECT_TRUE(hal::testing::process_alive(pid)) << "QEMU " << pid << " is gone";
    const long before = last_heartbeat(cluster_->console_log("qemu-a", kVmId)).first;
    EXPECT_TRUE(Cluster::wait_until(
        [&] { return last_heartbeat(cluster_->console_log("qemu-a", kVmId)).first > before; }, 20s))
        << "the guest stopped heartbeating";
    auto vmi = cluster_->get("vmi", "testguest");
    ASSERT_FALSE(vmi.is_null());
    EXPECT_EQ(vmi["status"].value("nodeName", ""), "qemu-a");
    EXPECT_EQ(vmi["status"].value("phase", ""), "Running");
  }
  std::string controller_log() const { return read(cluster_->dir() + "/controller.log"); }
  Cluster *cluster_ = nullptr;
};

// `halctl console testguest` with `flags` before the command, its input open for `seconds`
// (then it detaches) with `typed` written first.
testing::RunResult console_through_controller(Cluster &cluster,
                                              const std::vector<std::string> &flags,
                                              const std::string &typed, int seconds) {
  std::string command = "(printf '%s' \"$0\"; sleep " + std::to_string(seconds + 2) + ") | \"$1\"";
  std::vector<std::string> argv = {"/bin/sh", "-c", "", typed, HALCTL_BIN};
  for (size_t i = 0; i < flags.size(); ++i) {
    command += " \"$" + std::to_string(i + 2) + "\"";
    argv.push_back(flags[i]);
  }
  command +=
      " --server " + cluster.address() + " console testguest --timeout " + std::to_string(seconds);
  argv[2] = command;
  return testing::run_to_completion(argv, std::chrono::seconds(seconds + 30));
}

TEST_F(NodeRestriction, ConsoleThroughTheControllerReachesTheGuest) {
  const auto started = std::chrono::steady_clock::now();
  auto r = console_through_controller(*cluster_, {"--config", cluster_->halconfig()},
                                      "hal-relay-probe\n", 6);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Guest output came back through controller and node...
  EXPECT_TRUE(std::regex_search(r.out, std::regex("HAL-GUEST: heartbeat [0-9]+ boot_id=")))
      << r.out << r.err;
  // ...and input went in: the guest's serial line echoes what it receives.
  EXPECT_NE(r.out.find("hal-relay-probe"), std::string::npos) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 25s);
  // Another user needs an RBAC grant of the console subresource; then the controller logs who
  // attached to what.
  const std::vector<std::string> alice = {"--tls-ca",   cluster_->pki_dir() + "/ca.crt",
                                          "--tls-cert", cluster_->pki_dir() + "/user-alice.crt",
                                          "--tls-key",  cluster_->pki_dir() + "/user-alice.key"};
  r = console_through_controller(*cluster_, alice, "", 3);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("user \"alice\" (groups developers) cannot get "
                       "virtualmachineinstances/console in namespace \"default\""),
            std::string::npos)
      << r.err;
  auto granted =
      cluster_->halctl({"apply", "-f", "-"}, 20s, R"(apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: console, namespace: default}
rules:
- apiGroups: [subresources.kubevirt.io]
  resources: [virtualmachineinstances/console]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: developers-console, namespace: default}
subjects:
- {kind: Group, name: developers, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: Role, name: console, apiGroup: rbac.authorization.k8s.io}
)");
  ASSERT_EQ(granted.exit_code, 0) << granted.out << granted.err;
  r = console_through_controller(*cluster_, alice, "", 3);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("HAL-GUEST: heartbeat"))) << r.out << r.err;
  EXPECT_NE(controller_log().find("console: user 'alice' (groups developers) attached to "
                                  "default/testguest (VM default-testguest on node qemu-a)"),
            std::string::npos);
  // The relay ended the node's side with the client's.
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        return controller_log().find(
                   "console: user 'alice' (groups developers) left "
                   "default/testguest") != std::string::npos;
      },
      10s));
}

TEST_F(NodeRestriction, AUserCallingTheNodesConsoleDirectlyIsDeniedByName) {
  auto stub = v1::NodeAgent::NewStub(grpc::CreateChannel(
      cluster_->node_address("qemu-a"), tls_as(cluster_->pki_dir(), "user-alice")));
  auto context = deadline();
  auto stream = stub->Console(context.get());
  v1::ConsoleChunk first;
  first.set_vm_id(kVmId);
  stream->Write(first);
  v1::ConsoleChunk chunk;
  EXPECT_FALSE(stream->Read(&chunk)) << "the node sent console output to a user";
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_NE(status.error_message().find("user 'alice' (groups developers) may not call "
                                        "NodeAgent/Console: only the controller"),
            std::string::npos)
      << status.error_message();
}

TEST_F(NodeRestriction, ANodeCannotDriveAnotherNodesAgent) {
  const int pid = cluster_->qemu_pid("qemu-a", kVmId);
  auto agent = v1::NodeAgent::NewStub(grpc::CreateChannel(
      cluster_->node_address("qemu-a"), tls_as(cluster_->pki_dir(), "node-mock-b")));
  v1::CreateVmRequest create;
  create.set_backend("kvm-qemu");
  create.set_spec_json(R"({"name":"intruder"})");
  v1::VmStatus vm;
  grpc::Status status = agent->CreateVm(deadline().get(), create, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_NE(status.error_message().find("user 'system:node:mock-b' (groups system:nodes) may not "
                                        "call NodeAgent/CreateVm: only the controller"),
            std::string::npos)
      << status.error_message();
  v1::StopVmRequest stop;
  stop.set_vm_id(kVmId);
  stop.set_force(true);
  status = agent->StopVm(deadline().get(), stop, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  v1::DeleteVmRequest remove;
  remove.set_vm_id(kVmId);
  v1::DeleteVmResponse removed;
  status = agent->DeleteVm(deadline().get(), remove, &removed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  expect_guest_untouched(pid);
}

TEST_F(NodeRestriction, ANodeMayNotHeartbeatForAnotherNode) {
  auto registry = v1::NodeRegistry::NewStub(
      grpc::CreateChannel(cluster_->address(), tls_as(cluster_->pki_dir(), "node-mock-b")));
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_node_name("qemu-a");
  v1::HeartbeatResponse answer;
  grpc::Status status = registry->Heartbeat(deadline().get(), heartbeat, &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_NE(status.error_message().find("user 'system:node:mock-b' (groups system:nodes) may not "
                                        "call NodeRegistry/Heartbeat for node 'qemu-a'"),
            std::string::npos)
      << status.error_message();
}

// Node mock-b registers (as itself, which it may) claiming the VM that runs on qemu-a, and at
// qemu-a's NodeAgent address: its claim must not count for qemu-a's VM, and the controller must
// not call qemu-a believing it is mock-b (its orphan pass would delete qemu-a's VM there).
TEST_F(NodeRestriction, ANodesReportOnAnotherNodesVmIsIgnored) {
  const int pid = cluster_->qemu_pid("qemu-a", kVmId);
  ASSERT_GT(pid, 0);
  cluster_->kill_node("mock-b");  // Its own agent would re-register over the claim at once.
  auto registry = v1::NodeRegistry::NewStub(
      grpc::CreateChannel(cluster_->address(), tls_as(cluster_->pki_dir(), "node-mock-b")));
  v1::RegisterNodeRequest request;
  request.mutable_node()->set_name("mock-b");
  request.mutable_node()->set_pool("mock");
  request.mutable_node()->set_address(cluster_->node_address("qemu-a"));
  request.mutable_node()->add_backends("mock");
  request.mutable_node()->set_boot_id(42);
  v1::VmStatus *claimed = request.add_vms();
  claimed->set_vm_id(kVmId);
  claimed->set_backend("kvm-qemu");
  claimed->set_state("Running");
  v1::RegisterNodeResponse registered;
  grpc::Status status = registry->Register(deadline().get(), request, &registered);
  EXPECT_TRUE(status.ok()) << status.error_message();  // Registering itself is allowed.
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        return controller_log().find(
                   "node mock-b reported VM default-testguest (registration, "
                   "state Running), which is assigned to node qemu-a: "
                   "ignored") != std::string::npos;
      },
      10s))
      << controller_log();
  // The orphan pass on "mock-b" tries to delete the VM there, and the handshake refuses
  // qemu-a's agent as mock-b's.
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        return controller_log().find(
                   "the NodeAgent registered for node 'mock-b' presented the "
                   "certificate of user 'system:node:qemu-a'") != std::string::npos;
      },
      20s))
      << controller_log();
  expect_guest_untouched(pid);
  cluster_->start_node("mock-b");
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        auto r = cluster_->halctl({"get", "nodes"}, 5s);
        return std::regex_search(r.out, std::regex("mock-b +Ready"));
      },
      30s));
}

// ---- A local user without credentials (needs root to create one) -------------------------

// A throwaway system user, removed again.
class LocalUser {
 public:
  LocalUser() {
    std::random_device random;
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", random());
    name_ = std::string("haltest") + suffix;
    auto r = testing::run_to_completion(
        {"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name_}, 30s);
    if (r.exit_code != 0) throw std::runtime_error("useradd " + name_ + ": " + r.err);
    const passwd *entry = ::getpwnam(name_.c_str());
    if (entry == nullptr) throw std::runtime_error("no passwd entry for " + name_);
    uid_ = entry->pw_uid;
    gid_ = entry->pw_gid;
  }
  ~LocalUser() { testing::run_to_completion({"userdel", name_}, 30s); }
  LocalUser(const LocalUser &) = delete;
  LocalUser &operator=(const LocalUser &) = delete;
  const std::string &name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  std::string name_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

// What a probe does as the user.
enum class Probe { kRead, kList, kConnect, kSignal };

struct Attempt {
  std::string what;  // For messages.
  Probe probe;
  std::string path;  // kRead, kList, kConnect.
  pid_t pid = -1;    // kSignal.
};

class UnprivilegedUser : public NodeRestriction {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    user_ = new LocalUser();
  }
  static void TearDownTestSuite() {
    delete user_;
    user_ = nullptr;
  }
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root to create a throwaway local user (useradd); running as uid "
                   << ::geteuid();
    NodeRestriction::SetUp();
    if (!cluster_) return;
    // As under /var/lib: the installation's directory is open to all, so what is tested is
    // each file's own mode (mkdtemp made it 0700, which would hide everything behind it).
    ASSERT_EQ(::chmod(cluster_->dir().c_str(), 0755), 0) << std::strerror(errno);
    home_ = cluster_->dir() + "/home-" + user_->name();
    std::filesystem::create_directories(home_);
    ASSERT_EQ(::chown(home_.c_str(), user_->uid(), user_->gid()), 0) << std::strerror(errno);
  }

  // Runs `argv` as the user, in an environment of its own (HOME without a halctl config).
  testing::RunResult as_user(std::vector<std::string> argv) {
    std::vector<std::string> full = {"setpriv",
                                     "--reuid=" + std::to_string(user_->uid()),
                                     "--regid=" + std::to_string(user_->gid()),
                                     "--clear-groups",
                                     "env",
                                     "-i",
                                     "HOME=" + home_,
                                     "PATH=/usr/bin:/bin"};
    full.insert(full.end(), argv.begin(), argv.end());
    return testing::run_to_completion(full, 30s);
  }

  // The errno each attempt fails with as the user (0 when it succeeded), in a child process
  // that switches to the user (the probes are system calls only, safe after fork).
  std::vector<int> errnos_as_user(const std::vector<Attempt> &attempts) {
    std::vector<int> results(attempts.size(), -1);
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return results;
    const pid_t child = ::fork();
    if (child == 0) {
      ::close(pipe_fds[0]);
      if (::setgroups(0, nullptr) != 0 || ::setresgid(user_->gid(), user_->gid(), user_->gid()) ||
          ::setresuid(user_->uid(), user_->uid(), user_->uid()) != 0)
        ::_exit(2);
      for (const Attempt &attempt : attempts) {
        int result = 0;
        switch (attempt.probe) {
          case Probe::kRead:
          case Probe::kList: {
            const int fd = ::open(attempt.path.c_str(),
                                  O_RDONLY | (attempt.probe == Probe::kList ? O_DIRECTORY : 0));
            result = fd < 0 ? errno : 0;
            if (fd >= 0) ::close(fd);
            break;
          }
          case Probe::kConnect: {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un address{};
            address.sun_family = AF_UNIX;
            std::strncpy(address.sun_path, attempt.path.c_str(), sizeof address.sun_path - 1);
            result = ::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0
                         ? errno
                         : 0;
            ::close(fd);
            break;
          }
          case Probe::kSignal:
            result = ::kill(attempt.pid, 0) != 0 ? errno : 0;
            break;
        }
        if (::write(pipe_fds[1], &result, sizeof result) != sizeof result) ::_exit(3);
      }
      ::_exit(0);
    }
    ::close(pipe_fds[1]);
    for (int &result : results)
      if (::read(pipe_fds[0], &result, sizeof result) != sizeof result) break;
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "probe child status " << status;
    return results;
  }

  static inline LocalUser *user_ = nullptr;
  std::string home_;
};

TEST_F(UnprivilegedUser, HalctlWithoutCredentialsIsRefused) {
  // No configuration, no flags: halctl says what it needs and does not dial.
  auto r = as_user({HALCTL_BIN, "--server", cluster_->address(), "get", "vmi"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("no credentials for " + cluster_->address()), std::string::npos) << r.err;
  // Plaintext is refused by the controller.
  r = as_user({HALCTL_BIN, "--insecure", "--server", cluster_->address(), "get", "vmi"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("without TLS (--insecure)"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("testguest"), std::string::npos) << r.out;
  // The admin's configuration names files the user cannot read.
  r = as_user({HALCTL_BIN, "--config", cluster_->halconfig(), "--server", cluster_->address(),
               "get", "vmi"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("testguest"), std::string::npos) << r.out;
}

TEST_F(UnprivilegedUser, CannotStartStopOrReadTheVm) {
  const int pid = cluster_->qemu_pid("qemu-a", kVmId);
  ASSERT_GT(pid, 0);
  const std::string pki = cluster_->pki_dir();
  for (const std::vector<std::string> &command :
       std::vector<std::vector<std::string>>{{"stop", "testguest"},
                                             {"start", "testguest"},
                                             {"get", "vmi", "testguest", "-o", "json"},
                                             {"console", "testguest", "--timeout", "2"}}) {
    for (const std::vector<std::string> &credentials : std::vector<std::vector<std::string>>{
             {"--insecure"},
             {"--tls-ca", pki + "/ca.crt", "--tls-cert", pki + "/user-admin.crt", "--tls-key",
              pki + "/user-admin.key"}}) {
      std::vector<std::string> argv = {HALCTL_BIN, "--server", cluster_->address()};
      argv.insert(argv.end(), credentials.begin(), credentials.end());
      argv.insert(argv.end(), command.begin(), command.end());
      auto r = as_user(argv);
      EXPECT_EQ(r.exit_code, 1) << command[0] << " " << credentials[0] << ": " << r.out << r.err;
      EXPECT_EQ(r.out.find("HAL-GUEST"), std::string::npos) << r.out;
      EXPECT_EQ(r.out.find("\"kind\""), std::string::npos) << r.out;
    }
  }
  // Nor can it signal QEMU (which runs as another user, never as the caller).
  std::vector<int> results = errnos_as_user({{"kill -0 QEMU", Probe::kSignal, "", pid}});
  EXPECT_EQ(results[0], EPERM) << std::strerror(results[0]);
  expect_guest_untouched(pid);
}

TEST_F(UnprivilegedUser, CannotReadTheStoreKeysStateOrSockets) {
  const std::string pki = cluster_->pki_dir();
  const std::string vm_dir = cluster_->qemu_vm_dir("qemu-a", kVmId);
  std::vector<Attempt> attempts = {
      {"the controller's SQLite store", Probe::kRead, cluster_->dir() + "/controller.db", -1},
      {"its write-ahead log", Probe::kRead, cluster_->dir() + "/controller.db-wal", -1},
      {"the CA key", Probe::kRead, pki + "/ca.key", -1},
      {"the controller's key", Probe::kRead, pki + "/controller.key", -1},
      {"qemu-a's key", Probe::kRead, pki + "/node-qemu-a.key", -1},
      {"the admin's key", Probe::kRead, pki + "/user-admin.key", -1},
      {"qemu-a's state dir", Probe::kList, cluster_->dir() + "/nodes/qemu-a", -1},
      {"the VM's console log", Probe::kRead, vm_dir + "/console.log", -1},
      {"the VM's QMP socket", Probe::kConnect, vm_dir + "/qmp.sock", -1},
      {"the VM's console socket", Probe::kConnect, vm_dir + "/console.sock", -1},
  };
  // Each exists (root can reach it): a denial is about permission, not a missing file.
  for (const Attempt &attempt : attempts)
    ASSERT_TRUE(std::filesystem::exists(attempt.path)) << attempt.what << ": " << attempt.path;
  std::vector<int> results = errnos_as_user(attempts);
  for (size_t i = 0; i < attempts.size(); ++i)
    EXPECT_EQ(results[i], EACCES) << attempts[i].what << " (" << attempts[i].path << "): "
                                  << (results[i] == 0 ? "allowed" : std::strerror(results[i]));
}

}  // namespace
}  // namespace hal::e2e
