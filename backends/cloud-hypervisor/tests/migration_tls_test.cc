// migration_tls_test.cc - the cloud-hypervisor plugin (through its C table) migrating a VM of
// hal-ch-emulator over mutual TLS (migration-params "tls", the VMM's stream carried by
// backends/common's TlsRelay): features.migrationTls is declared, a node's certificate migrates
// the VM, and a certificate of another CA fails the migration while the source runs on.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <list>
#include <thread>

#include "controller/pki/pki.h"
#include "hal/hal.h"
#include "testing/event_log.h"
#include "testing/plugin_under_test.h"
#include "testing/temp_dir.h"

namespace hal::cloud_hypervisor {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

struct Err {
  hal_error e{};
  Err() { e.struct_size = sizeof e; }
  hal_error *operator&() { return &e; }
  const char *msg() const { return e.message; }
};

class ChMigrationTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = &hal::testing::plugin_under_test(HAL_CH_PLUGIN);
    t_ = &plugin_->table();
    const pki::KeyAndCertificate ca = pki::create_ca("hal-ch-tls-ca", std::chrono::hours(1));
    const pki::KeyAndCertificate other = pki::create_ca("hal-ch-tls-ca", std::chrono::hours(1));
    write("target", ca.certificate_pem, pki::issue(ca, node("target")));
    write("source", ca.certificate_pem, pki::issue(ca, node("source")));
    write("rogue", ca.certificate_pem + other.certificate_pem, pki::issue(other, node("source")));
  }

  void TearDown() override {
    for (hal_vm *vm : vms_) t_->vm_release(vm);
    for (hal_backend *backend : backends_) {
      Err err;
      t_->close(backend, HAL_CLOSE_STOP_VMS, &err);
    }
  }

  static pki::CertificateRequest node(const std::string &name) {
    pki::CertificateRequest request = pki::node_request(name);
    request.ip_addresses = {"127.0.0.1"};
    return request;
  }

  void write(const std::string &name, const std::string &ca, const pki::KeyAndCertificate &id) {
    pki::write_tls_creds_dir(dir_.path() / "pki" / name, ca, id.certificate_pem, id.key_pem);
  }

  json tls(const std::string &name) const {
    return {{"dir", (dir_.path() / "pki" / name).string()}};
  }

  hal_backend *open(const std::string &name, hal::testing::EventLog &events) {
    const json config = {{"binary", HAL_CH_EMULATOR}, {"stateDir", (dir_.path() / name).string()}};
    hal_backend *backend = nullptr;
    Err err;
    EXPECT_EQ(t_->open(config.dump().c_str(), &hal::testing::EventLog::callback, &events, 0,
                       &backend, &err),
              HAL_OK)
        << err.msg();
    if (backend) backends_.push_back(backend);
    return backend;
  }

  hal_vm_state state(hal_vm *vm) {
    hal_vm_state s = HAL_VM_STATE_UNKNOWN;
    Err err;
    t_->vm_get_state(vm, 0, &s, &err);
    return s;
  }

  json spec() const {
    return {{"apiVersion", "hal.dev/v1"},
            {"name", "chtls"},
            {"cpu", {{"vcpus", 1}}},
            {"memory", {{"size", "64Mi"}}},
            {"boot", {{"kernel", "/proc/self/exe"}, {"cmdline", "console=ttyS0"}}}};
  }

  // prepare_incoming over TLS (nodes only) on `target`; the endpoint uri.
  std::string prepare(hal_backend *target, hal_vm **incoming) {
    json params = {{"tls", tls("target")}};
    params["tls"]["peerSubjects"] = {"O=system:nodes,CN=system:node:*"};
    char *endpoint = nullptr;
    Err err;
    EXPECT_EQ(t_->migration_prepare_incoming(target, spec().dump().c_str(), params.dump().c_str(),
                                             0, incoming, &endpoint, &err),
              HAL_OK)
        << err.msg();
    if (*incoming) vms_.push_back(*incoming);
    return endpoint ? json::parse(plugin_->take(endpoint)).value("uri", "") : "";
  }

  const hal::testing::PluginUnderTest *plugin_ = nullptr;
  const hal_backend_table *t_ = nullptr;
  hal::testing::TempDir dir_{"hal-ch-tls-"};
  std::list<hal::testing::EventLog> events_;
  std::vector<hal_backend *> backends_;
  std::vector<hal_vm *> vms_;
};

TEST_F(ChMigrationTlsTest, ANodeMigratesOverTlsAndAnotherCaIsRefused) {
  hal::testing::EventLog &source_events = events_.emplace_back();
  hal::testing::EventLog &target_events = events_.emplace_back();
  hal_backend *source = open("src", source_events);
  hal_backend *target = open("dst", target_events);
  ASSERT_TRUE(source && target);
  char *caps = nullptr;
  Err err;
  ASSERT_EQ(t_->get_capabilities(source, 0, &caps, &err), HAL_OK) << err.msg();
  EXPECT_EQ(json::parse(plugin_->take(caps))["features"].value("migrationTls", false), true);

  hal_vm *vm = nullptr;
  ASSERT_EQ(t_->vm_create(source, spec().dump().c_str(), HAL_CREATE_START, &vm, &err), HAL_OK)
      << err.msg();
  vms_.push_back(vm);
  ASSERT_EQ(state(vm), HAL_VM_STATE_RUNNING);

  auto finished_after = [&](size_t from) {
    return source_events.wait_for(
        [](const hal::Event &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }, 60s, from);
  };
  {
    hal_vm *incoming = nullptr;
    const std::string uri = prepare(target, &incoming);
    const size_t before = source_events.count();
    const json params = {{"uri", uri}, {"tls", tls("rogue")}, {"timeoutMs", 20000}};
    ASSERT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_OK) << err.msg();
    auto finished = finished_after(before);
    ASSERT_TRUE(finished) << source_events.describe();
    EXPECT_EQ(finished->detail.value("status", ""), "failed") << finished->detail.dump();
    EXPECT_NE(finished->detail.value("error", "").find("TLS relay"), std::string::npos)
        << finished->detail.dump();
    EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
    EXPECT_NE(state(incoming), HAL_VM_STATE_RUNNING);
    ASSERT_EQ(t_->migration_cancel(incoming, 0, &err), HAL_OK) << err.msg();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (state(incoming) != HAL_VM_STATE_STOPPED && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    ASSERT_EQ(t_->vm_delete(incoming, 0, &err), HAL_OK) << err.msg();
  }

  hal_vm *incoming = nullptr;
  const std::string uri = prepare(target, &incoming);
  const size_t before = source_events.count();
  const json params = {{"uri", uri}, {"tls", tls("source")}, {"timeoutMs", 20000}};
  ASSERT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_OK) << err.msg();
  auto finished = finished_after(before);
  ASSERT_TRUE(finished) << source_events.describe();
  ASSERT_EQ(finished->detail.value("status", ""), "completed") << finished->detail.dump();
  EXPECT_GT(finished->detail.value("transferredBytes", 0), 0);
  EXPECT_TRUE(target_events.wait_state_event("chtls", HAL_VM_STATE_RUNNING, 20s))
      << target_events.describe();
  EXPECT_EQ(state(vm), HAL_VM_STATE_MIGRATED);
}

}  // namespace
}  // namespace hal::cloud_hypervisor
