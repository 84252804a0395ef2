// kvm_qemu_node_test.cc - the real hal-node program with the kvm-qemu backend and the project's
// test guest (QEMU under TCG): create+start through NodeAgent, the guest's "HAL-GUEST: ready"
// over NodeAgent.Console, kill -9 of hal-node leaves QEMU (in its own process group) running
// with its heartbeat continuing, and a new hal-node on the same state dir re-adopts the VM:
// ListVms shows it Running and the console shows the same guest boot_id. Then SIGTERM of
// hal-node also leaves the VM running, and DeleteVm through a third hal-node stops QEMU. A node
// serving on every interface has QEMU listen for incoming migrations there too.
// Skips (with the reason) without qemu-system-x86_64 or the test guest.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "controller/node/tests/node_process.h"
#include "controller/node/tests/test_support.h"
#include "controller/pki/pki.h"
#include "controller/tls/credentials.h"
#include "testing/test_guest.h"

namespace hal::node::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kBoot = 120s;  // TCG on two busy cores

bool on_path(const std::string &program) {
  const char *path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

// A NodeAgent.Console session collecting the console text on a thread.
class ConsoleSession {
 public:
  ConsoleSession(v1::NodeAgent::Stub &stub, const std::string &vm_id) {
    stream_ = stub.Console(&context_);
    v1::ConsoleChunk first;
    first.set_vm_id(vm_id);
    stream_->Write(first);
    thread_ = std::thread([this] {
      v1::ConsoleChunk chunk;
      while (stream_->Read(&chunk)) {
        std::lock_guard lock(mu_);
        text_ += chunk.data();
        cv_.notify_all();
      }
      std::lock_guard lock(mu_);
      status_ = stream_->Finish();
      done_ = true;
      cv_.notify_all();
    });
  }
  ~ConsoleSession() {
    context_.TryCancel();
    thread_.join();
  }
  // Waits until the text (from offset `from`) matches `pattern`; returns the first match.
  std::optional<std::smatch> wait_for(const std::regex &pattern, std::chrono::seconds timeout,
                                      std::size_t from = 0) {
    std::unique_lock lock(mu_);
    std::optional<std::smatch> found;
    cv_.wait_for(lock, timeout, [&] {
      if (text_.size() > from) {
        snapshot_ = text_.substr(from);
        std::smatch m;
        if (std::regex_search(snapshot_, m, pattern)) found = m;
      }
      return found.has_value() || done_;
    });
    return found;
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_ + (done_ ? "\n[console ended: " + status_.error_message() + "]" : "");
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ConsoleChunk, v1::ConsoleChunk>> stream_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  std::string snapshot_;  // regex matches point into it
  grpc::Status status_;
  bool done_ = false;
};

std::string read_file(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Console patterns match whole lines only: the serial console arrives a few bytes at a time on a
// loaded machine, and a boot_id cut short by a chunk boundary must not be taken for the guest's.
const std::string kLineEnd = "[\\r\\n]";

// The highest "HAL-GUEST: heartbeat N boot_id=ID" counter in `text` for `boot_id` (0 if none).
long last_heartbeat(const std::string &text, const std::string &boot_id) {
  static const std::regex beat(
      "HAL-GUEST: heartbeat ([0-9]+) boot_id=([0-9a-f]+)(?: uptime_ms=[0-9]+)?" + kLineEnd);
  long last = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), beat); it != std::sregex_iterator();
       ++it)
    if ((*it)[2] == boot_id) last = std::max(last, std::stol((*it)[1]));
  return last;
}

class KvmQemuNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!on_path("qemu-system-x86_64"))
      GTEST_SKIP() << "qemu-system-x86_64 is not on PATH: the kvm-qemu node test needs QEMU";
    std::string why;
    guest_ = hal::testing::test_guest_dir(&why);
    if (!guest_) GTEST_SKIP() << "the kvm-qemu node test needs the test guest: " << why;
    dir_ = std::make_unique<TempDir>("hal-nk-");
    // The node serves mutual TLS, as it does by default; the test calls it as the controller.
    pki::KeyAndCertificate ca = pki::create_ca("hal-nk-ca", std::chrono::hours(1));
    pki::CertificateRequest node = pki::node_request("kq-node");
    node.ip_addresses = {"127.0.0.1", "127.0.0.2"};
    auto save = [&](const std::string &base, const pki::KeyAndCertificate &pair) {
      pki::write_private_file(dir_->path() / (base + ".crt"), pair.certificate_pem);
      pki::write_private_file(dir_->path() / (base + ".key"), pair.key_pem);
    };
    save("ca", ca);
    save("node", pki::issue(ca, node));
    save("controller", pki::issue(ca, pki::controller_request()));
    controller_credentials_ = tls::channel_credentials(
        {(dir_->path() / "ca.crt").string(), (dir_->path() / "controller.crt").string(),
         (dir_->path() / "controller.key").string(), false});
  }

  // A NodeAgent stub that calls as the controller.
  std::unique_ptr<v1::NodeAgent::Stub> node_stub(const std::string &address) {
    return hal::node::testing::node_stub(address, controller_credentials_);
  }

  void TearDown() override {
    nodes_.clear();  // SIGKILL + reap any hal-node still running
    if (qemu_pid_ > 0 && process_alive(qemu_pid_)) ::kill(qemu_pid_, SIGKILL);
    dir_.reset();
  }

  // Starts hal-node on the test's state dir, serving on `listen` (and `advertise` when given).
  NodeProcess &start_node(const std::string &listen = "127.0.0.1:0",
                          const std::string &advertise = "") {
    std::vector<std::string> args = {"--name",           "kq-node",
                                     "--pool",           "qemu",
                                     "--backend",        "kvm-qemu",
                                     "--backend-config", R"({"accelerator":"tcg"})",
                                     "--listen",         listen,
                                     "--state-dir",      (dir_->path() / "state").string(),
                                     "--plugin-path",    HAL_NODE_KVM_QEMU_PLUGIN_DIR,
                                     "--tls-ca",         (dir_->path() / "ca.crt").string(),
                                     "--tls-cert",       (dir_->path() / "node.crt").string(),
                                     "--tls-key",        (dir_->path() / "node.key").string()};
    if (!advertise.empty()) args.insert(args.end(), {"--advertise", advertise});
    args.insert(args.end(), {"--host-path-root", *guest_});
    nodes_.push_back(
        std::make_unique<NodeProcess>(HAL_NODE_BINARY, args, dir_->path() / "hal-node.log"));
    return *nodes_.back();
  }

  nlohmann::json spec(const std::string &name) const {
    return {{"apiVersion", "hal.dev/v1"},
            {"name", name},
            {"cpu", {{"vcpus", 1}}},
            {"memory", {{"size", "192Mi"}}},
            {"boot",
             {{"kernel", *guest_ + "/vmlinuz"},
              {"initrd", *guest_ + "/initrd.img"},
              {"cmdline", "console=ttyS0 quiet"}}},
            {"console", {{"serial", true}}}};
  }

  std::string node_log() { return read_file(dir_->path() / "hal-node.log"); }

  std::optional<std::string> guest_;
  std::unique_ptr<TempDir> dir_;
  std::shared_ptr<grpc::ChannelCredentials> controller_credentials_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
  pid_t qemu_pid_ = -1;
};

TEST_F(KvmQemuNodeTest, KillNineOfHalNodeLeavesTheVmRunningAndARestartReadoptsIt) {
  const std::string vm = "guest1";
  NodeProcess &first = start_node();
  auto stub = node_stub(first.address());

  v1::CreateVmRequest create;
  create.set_backend("kvm-qemu");
  create.set_spec_json(spec(vm).dump());
  create.set_start(true);
  v1::VmStatus status;
  grpc::Status rpc = stub->CreateVm(deadline_context(60s).get(), create, &status);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message() << "\n" << node_log();
  EXPECT_EQ(status.state(), "Running");

  v1::VmRef ref;
  ref.set_vm_id(vm);
  ASSERT_TRUE(stub->GetVm(deadline_context().get(), ref, &status).ok());
  nlohmann::json info = nlohmann::json::parse(status.info_json());
  ASSERT_TRUE(info.contains("pid")) << info.dump();
  qemu_pid_ = info["pid"].get<pid_t>();
  ASSERT_TRUE(process_alive(qemu_pid_));
  // QEMU leads its own process group, apart from hal-node's.
  EXPECT_EQ(::getpgid(qemu_pid_), qemu_pid_);
  EXPECT_NE(::getpgid(qemu_pid_), ::getpgid(first.pid()));

  std::string boot_id;
  {
    ConsoleSession console(*stub, vm);
    auto ready = console.wait_for(std::regex("HAL-GUEST: ready boot_id=([0-9a-f]+) "), kBoot);
    ASSERT_TRUE(ready) << console.text();
    boot_id = (*ready)[1];
    ASSERT_TRUE(console.wait_for(std::regex("HAL-GUEST: heartbeat [0-9]+ boot_id=" + boot_id +
                                            "(?: uptime_ms=[0-9]+)?" + kLineEnd),
                                 30s))
        << console.text();
  }

  // kill -9 of hal-node: QEMU keeps running and the guest keeps beating.
  const std::filesystem::path console_log =
      dir_->path() / "state" / "kvm-qemu" / vm / "console.log";
  long before = 0;
  ASSERT_TRUE(wait_until(
      [&] { return (before = last_heartbeat(read_file(console_log), boot_id)) > 0; }, 10s))
      << "no heartbeat in " << console_log;
  auto killed = first.signal_and_wait(SIGKILL, 10s);
  ASSERT_TRUE(killed);
  EXPECT_TRUE(WIFSIGNALED(*killed));
  EXPECT_TRUE(process_alive(qemu_pid_));
  EXPECT_TRUE(wait_until(
      [&] { return last_heartbeat(read_file(console_log), boot_id) >= before + 2; }, 30s))
      << "the guest's heartbeat stopped after hal-node was killed (last " << before << ")";
  EXPECT_TRUE(process_alive(qemu_pid_));

  // A new hal-node on the same state dir re-adopts the VM.
  NodeProcess &second = start_node();
  auto stub2 = node_stub(second.address());
  v1::ListVmsResponse list;
  ASSERT_TRUE(stub2->ListVms(deadline_context().get(), v1::ListVmsRequest(), &list).ok());
  ASSERT_EQ(list.vms_size(), 1) << node_log();
  EXPECT_EQ(list.vms(0).vm_id(), vm);
  EXPECT_EQ(list.vms(0).backend(), "kvm-qemu");
  EXPECT_EQ(list.vms(0).state(), "Running");
  ASSERT_TRUE(stub2->GetVm(deadline_context().get(), ref, &status).ok());
  EXPECT_EQ(nlohmann::json::parse(status.info_json()).value("pid", -1), qemu_pid_);
  {
    ConsoleSession console(*stub2, vm);
    auto beat = console.wait_for(
        std::regex("HAL-GUEST: heartbeat ([0-9]+) boot_id=([0-9a-f]+)(?: uptime_ms=[0-9]+)?" +
                   kLineEnd),
        30s);
    ASSERT_TRUE(beat) << console.text();
    EXPECT_EQ((*beat)[2], boot_id) << "the guest rebooted";
    EXPECT_GT(std::stol((*beat)[1]), before);
  }

  // SIGTERM: hal-node exits 0 and leaves the VM running too.
  auto terminated = second.signal_and_wait(SIGTERM, 30s);
  ASSERT_TRUE(terminated);
  EXPECT_TRUE(WIFEXITED(*terminated) && WEXITSTATUS(*terminated) == 0) << node_log();
  EXPECT_TRUE(process_alive(qemu_pid_));

  // A third hal-node deletes it: QEMU goes away.
  NodeProcess &third = start_node();
  auto stub3 = node_stub(third.address());
  v1::DeleteVmRequest del;
  del.set_vm_id(vm);
  v1::DeleteVmResponse deleted;
  rpc = stub3->DeleteVm(deadline_context(60s).get(), del, &deleted);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_TRUE(wait_until([&] { return !process_alive(qemu_pid_); }, 10s));
  list.Clear();
  ASSERT_TRUE(stub3->ListVms(deadline_context().get(), v1::ListVmsRequest(), &list).ok());
  EXPECT_EQ(list.vms_size(), 0);
  auto stopped = third.signal_and_wait(SIGTERM, 30s);
  ASSERT_TRUE(stopped);
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0);
}

// A node serving on every interface has QEMU listen for an incoming migration on every interface
// too, and answers the endpoint at its advertised host (127.0.0.2 stands for this machine's
// address on a network other nodes share), which a source node dials.
TEST_F(KvmQemuNodeTest, IncomingMigrationListensWhereTheNodeServesAndAnswersItsAdvertisedHost) {
  NodeProcess &node = start_node("0.0.0.0:0", "127.0.0.2");
  ASSERT_TRUE(node.address().starts_with("127.0.0.2:")) << node.address();
  auto stub = node_stub(node.address());
  v1::PrepareIncomingRequest prepare;
  prepare.set_backend("kvm-qemu");
  prepare.set_spec_json(spec("arriving").dump());
  v1::PrepareIncomingResponse endpoint;
  grpc::Status rpc = stub->PrepareIncoming(deadline_context(60s).get(), prepare, &endpoint);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message() << "\n" << node_log();
  const std::string uri = nlohmann::json::parse(endpoint.endpoint_json()).value("uri", "");
  ASSERT_TRUE(uri.starts_with("tcp:127.0.0.2:")) << uri;

  // QEMU accepts a connection at the answered endpoint (it listened on 127.0.0.1 alone before).
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(uri.substr(uri.rfind(':') + 1))));
  ASSERT_EQ(::inet_pton(AF_INET, "127.0.0.2", &address.sin_addr), 1);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const int connected = ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address);
  const int error = errno;
  ::close(fd);
  EXPECT_EQ(connected, 0) << "connect to " << uri << ": " << std::strerror(error);

  v1::DeleteVmRequest del;
  del.set_vm_id("arriving");
  v1::DeleteVmResponse deleted;
  rpc = stub->DeleteVm(deadline_context(60s).get(), del, &deleted);
  EXPECT_TRUE(rpc.ok()) << rpc.error_message();
  auto stopped = node.signal_and_wait(SIGTERM, 30s);
  ASSERT_TRUE(stopped);
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << node_log();
}

}  // namespace
}  // namespace hal::node::testing
