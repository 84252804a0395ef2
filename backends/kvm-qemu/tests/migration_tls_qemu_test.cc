// migration_tls_qemu_test.cc - live migration over TLS through the kvm-qemu plugin with real
// QEMU (TCG) and the test guest: a target given migration-params "tls" refuses a source whose
// certificate comes from another CA, and a source with a certificate of the right CA that is not
// a node's (peerSubjects), then accepts a node's; the source keeps running after each refusal.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <list>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "backends/kvm-qemu/tests/plugin_fixture.h"
#include "controller/pki/pki.h"
#include "hal/hal.h"

namespace hal::kvm_qemu::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A hal_error ready to use.
struct Err {
  hal_error e{};
  Err() { e.struct_size = sizeof e; }
  hal_error *operator&() { return &e; }
  const char *msg() const { return e.message; }
};

// Writes the QEMU tls-creds-x509 layout into `dir`: `ca_pem` trusted, `identity` presented as
// both server and client.
void write_tls_dir(const fs::path &dir, const std::string &ca_pem,
                   const pki::KeyAndCertificate &identity) {
  pki::write_tls_creds_dir(dir, ca_pem, identity.certificate_pem, identity.key_pem);
}

std::string read_text(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class MigrationTlsQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    guest_ = hal::testing::test_guest_dir(&why);
    if (!guest_) GTEST_SKIP() << "kvm-qemu TLS migration tests need the test guest: " << why;
    t_ = &plugin_table();
  }

  void TearDown() override {
    for (hal_vm *vm : vms_) t_->vm_release(vm);
    vms_.clear();
    for (hal_backend *backend : backends_) {
      Err err;
      t_->close(backend, HAL_CLOSE_STOP_VMS, &err);
    }
    backends_.clear();
    dirs_.clear();  // kills leftover QEMUs by pidfile, removes the dirs
  }

  std::string new_dir(const std::string &prefix) {
    dirs_.push_back(std::make_unique<QemuStateDir>(prefix));
    return dirs_.back()->path();
  }

  hal_backend *open(const std::string &state_dir, EventRecorder &events) {
    nlohmann::json config = {{"stateDir", state_dir}, {"accelerator", "tcg"}};
    hal_backend *backend = nullptr;
    Err err;
    EXPECT_EQ(t_->open(config.dump().c_str(), &EventRecorder::callback, &events, 0, &backend, &err),
              HAL_OK)
        << err.msg();
    if (backend) backends_.push_back(backend);
    return backend;
  }

  hal_vm_state state(hal_vm *vm) {
    hal_vm_state s = HAL_VM_STATE_UNKNOWN;
    Err err;
    EXPECT_EQ(t_->vm_get_state(vm, 0, &s, &err), HAL_OK) << err.msg();
    return s;
  }

  bool wait_state(hal_vm *vm, hal_vm_state want, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (state(vm) != want) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }

  nlohmann::json spec(const std::string &name) const {
    return {{"apiVersion", "hal.dev/v1"},
            {"name", name},
            {"cpu", {{"vcpus", 1}}},
            {"memory", {{"size", "128Mi"}}},
            {"boot",
             {{"kernel", *guest_ + "/vmlinuz"},
              {"initrd", *guest_ + "/initrd.img"},
              {"cmdline", "console=ttyS0 quiet"}}},
            {"console", {{"serial", true}}}};
  }

  const hal_backend_table *t_ = nullptr;
  std::optional<std::string> guest_;
  std::vector<std::unique_ptr<QemuStateDir>> dirs_;
  std::vector<hal_backend *> backends_;
  std::vector<hal_vm *> vms_;
  std::list<EventRecorder> recorders_;
};

TEST_F(MigrationTlsQemuTest, TargetRefusesAnotherCaAndANonNodeThenAcceptsANode) {
  // The cluster CA signs both nodes and a user; another CA that even bears the cluster CA's name
  // (so the rogue's TLS stack presents its certificate when the target asks for one of the
  // cluster CA's) signs a rogue "node".
  const pki::KeyAndCertificate ca = pki::create_ca("hal-migtls-ca", std::chrono::hours(1));
  const pki::KeyAndCertificate other_ca = pki::create_ca("hal-migtls-ca", std::chrono::hours(1));
  auto node = [](const std::string &name) {
    pki::CertificateRequest request = pki::node_request(name);
    request.ip_addresses = {"127.0.0.1"};
    return request;
  };
  const fs::path pki_dir = new_dir("hal-migtls-pki-");
  write_tls_dir(pki_dir / "target", ca.certificate_pem, pki::issue(ca, node("target")));
  write_tls_dir(pki_dir / "source", ca.certificate_pem, pki::issue(ca, node("source")));
  write_tls_dir(pki_dir / "user", ca.certificate_pem,
                pki::issue(ca, pki::user_request("alice", {"system:nodes"})));
  // The rogue trusts the cluster CA too (it would otherwise refuse the target itself): only the
  // target's check of the source certificate stands between it and the target.
  write_tls_dir(pki_dir / "rogue", ca.certificate_pem + other_ca.certificate_pem,
                pki::issue(other_ca, node("source")));

  EventRecorder &source_events = recorders_.emplace_back();
  EventRecorder &target_events = recorders_.emplace_back();
  hal_backend *source = open(new_dir("hal-migtls-src-"), source_events);
  const std::string target_root = new_dir("hal-migtls-dst-");
  hal_backend *target = open(target_root, target_events);
  ASSERT_TRUE(source && target);
  const nlohmann::json s = spec("tlsmig");
  hal_vm *vm = nullptr;
  Err err;
  ASSERT_EQ(t_->vm_create(source, s.dump().c_str(), 0, &vm, &err), HAL_OK) << err.msg();
  vms_.push_back(vm);
  ASSERT_EQ(t_->vm_start(vm, 0, &err), HAL_OK) << err.msg();

  struct Attempt {
    const char *who;
    const char *dir;
    const char *want;
  };
  for (const Attempt &attempt : {Attempt{"a certificate of another CA", "rogue", "failed"},
                                 Attempt{"a user of the cluster CA", "user", "failed"},
                                 Attempt{"a node of the cluster CA", "source", "completed"}}) {
    SCOPED_TRACE(attempt.who);
    const nlohmann::json incoming_params = {
        {"tls",
         {{"dir", (pki_dir / "target").string()},
          {"peerSubjects", {"O=system:nodes,CN=system:node:*"}}}}};
    hal_vm *incoming = nullptr;
    char *endpoint = nullptr;
    ASSERT_EQ(
        t_->migration_prepare_incoming(target, s.dump().c_str(), incoming_params.dump().c_str(), 0,
                                       &incoming, &endpoint, &err),
        HAL_OK)
        << err.msg();
    vms_.push_back(incoming);
    const std::string uri = nlohmann::json::parse(endpoint).value("uri", "");
    t_->free_string(endpoint);

    const size_t before = source_events.count();
    const nlohmann::json params = {
        {"uri", uri}, {"timeoutMs", 120000}, {"tls", {{"dir", (pki_dir / attempt.dir).string()}}}};
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_OK) << err.msg();
    auto finished = source_events.wait_for(
        [](const hal::Event &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }, 150s, before);
    ASSERT_TRUE(finished) << source_events.describe();
    std::printf("[timing] TLS migration from %s: %s after %lld ms\n", attempt.who,
                finished->detail.value("status", "").c_str(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count()));
    ASSERT_EQ(finished->detail.value("status", ""), attempt.want) << finished->detail.dump();
    if (std::string(attempt.want) == "completed") {
      EXPECT_TRUE(wait_state(vm, HAL_VM_STATE_MIGRATED, 10s));
      EXPECT_TRUE(wait_state(incoming, HAL_VM_STATE_RUNNING, 30s)) << state(incoming);
      break;
    }
    // Refused: the source runs on, the target never ran, and it is the target that said no.
    EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
    EXPECT_NE(state(incoming), HAL_VM_STATE_RUNNING);
    const std::string target_log = read_text(fs::path(target_root) / "tlsmig" / "qemu.stderr.log");
    std::printf("[target] %s", target_log.c_str());
    if (std::string(attempt.dir) == "user") {
      EXPECT_NE(target_log.find("authz check for O=system:nodes,CN=alice is denied"),
                std::string::npos)
          << target_log;
    } else {
      EXPECT_NE(target_log.find("hasn't got a known issuer"), std::string::npos) << target_log;
    }
    ASSERT_EQ(t_->vm_force_stop(incoming, 0, &err), HAL_OK) << err.msg();
    ASSERT_EQ(t_->vm_delete(incoming, 0, &err), HAL_OK) << err.msg();
    vms_.erase(std::find(vms_.begin(), vms_.end(), incoming));
    t_->vm_release(incoming);
  }
}

}  // namespace
}  // namespace hal::kvm_qemu::testing
