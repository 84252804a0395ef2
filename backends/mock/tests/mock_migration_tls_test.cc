// mock_migration_tls_test.cc - live migration between two mock instances over mutual TLS
// (migration-params "tls", carried by backends/common's TlsRelay): the mock declares
// features.migrationTls, a node's certificate migrates the guest without a reboot, and a source
// with a certificate of another CA or outside peerSubjects fails while the source runs on and
// the target never runs; bad TLS files are refused by the call itself.
#include <filesystem>

#include "controller/pki/pki.h"
#include "mock_harness.h"
#include "testing/temp_dir.h"

namespace hal::mock::test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

Result Send(const Vm &vm, const json &params) {
  hal_error error = Err();
  hal_status s = T().migration_send(vm.get(), params.dump().c_str(), 0, &error);
  return {s, error.message};
}

class MockMigrationTls : public ::testing::Test {
 protected:
  void SetUp() override {
    const pki::KeyAndCertificate ca = pki::create_ca("hal-mock-tls-ca", std::chrono::hours(1));
    const pki::KeyAndCertificate other = pki::create_ca("hal-mock-tls-ca", std::chrono::hours(1));
    write("target", ca.certificate_pem, pki::issue(ca, node("target")));
    write("source", ca.certificate_pem, pki::issue(ca, node("source")));
    write("user", ca.certificate_pem, pki::issue(ca, pki::user_request("mallory", {})));
    write("rogue", ca.certificate_pem + other.certificate_pem, pki::issue(other, node("source")));
  }

  static pki::CertificateRequest node(const std::string &name) {
    pki::CertificateRequest request = pki::node_request(name);
    request.ip_addresses = {"127.0.0.1"};
    return request;
  }

  void write(const std::string &name, const std::string &ca, const pki::KeyAndCertificate &id) {
    pki::write_tls_creds_dir(dir_.path() / name, ca, id.certificate_pem, id.key_pem);
  }

  json tls(const std::string &name) const { return {{"dir", (dir_.path() / name).string()}}; }

  // prepare_incoming of `spec` on `b` over TLS (nodes only); the endpoint uri.
  std::string prepare(hal_backend *b, const json &spec, Vm &vm) {
    json params = {{"tls", tls("target")}};
    params["tls"]["peerSubjects"] = {"O=system:nodes,CN=system:node:*"};
    char *endpoint = nullptr;
    hal_error error = Err();
    EXPECT_EQ(T().migration_prepare_incoming(b, spec.dump().c_str(), params.dump().c_str(), 0,
                                             vm.out(), &endpoint, &error),
              HAL_OK)
        << error.message;
    return endpoint ? json::parse(Take(endpoint)).value("uri", "") : "";
  }

  std::string wait_finished(const Vm &vm) {
    for (int i = 0; i < 2000; ++i) {
      std::string status = vm.Progress()["status"];
      if (status == "completed" || status == "failed" || status == "cancelled") return status;
      Sleep(5);
    }
    return "timeout";
  }

  hal::testing::TempDir dir_{"hal-mock-tls-"};
};

TEST_F(MockMigrationTls, ANodeMigratesOverTlsAndStrangersAreRefused) {
  Backend source(json{{"instance", Instance("-tls-src")}});
  Backend target(json{{"instance", Instance("-tls-dst")}});
  char *caps_text = nullptr;
  hal_error error = Err();
  ASSERT_EQ(T().get_capabilities(source.b, 0, &caps_text, &error), HAL_OK);
  EXPECT_EQ(json::parse(Take(caps_text))["features"].value("migrationTls", false), true);

  json spec = Spec("tlsmig", {{"memory", {{"size", "256Mi"}}}});
  Vm src;
  ASSERT_EQ(Create(source.b, spec, src, HAL_CREATE_START).status, HAL_OK);
  for (const char *stranger : {"rogue", "user"}) {
    SCOPED_TRACE(stranger);
    Vm dst;
    const std::string uri = prepare(target.b, spec, dst);
    ASSERT_THAT(uri, HasSubstr("tcp:127.0.0.1:"));
    hal_error send_error = Err();
    json params = {{"uri", uri}, {"tls", tls(stranger)}, {"timeoutMs", 10000}};
    ASSERT_EQ(T().migration_send(src.get(), params.dump().c_str(), 0, &send_error), HAL_OK)
        << send_error.message;
    EXPECT_EQ(wait_finished(src), "failed");
    EXPECT_THAT(src.Progress().value("error", ""), HasSubstr("TLS relay"));
    EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
    // Nothing reached the mock on the target: it still waits for its source.
    EXPECT_EQ(dst.State(), HAL_VM_STATE_INCOMING);
    ASSERT_EQ(Call(T().migration_cancel, dst).status, HAL_OK);
    EXPECT_EQ(wait_finished(dst), "cancelled");
    for (int i = 0; i < 2000 && dst.State() != HAL_VM_STATE_STOPPED; ++i) Sleep(5);
    EXPECT_EQ(Call(T().vm_delete, dst).status, HAL_OK);
  }

  Vm dst;
  const std::string uri = prepare(target.b, spec, dst);
  const int64_t heartbeat = src.Info()["guest"]["heartbeat"];
  ASSERT_EQ(Send(src, {{"uri", uri}, {"tls", tls("source")}}).status, HAL_OK);
  ASSERT_EQ(wait_finished(src), "completed") << src.Progress().dump();
  EXPECT_EQ(src.State(), HAL_VM_STATE_MIGRATED);
  EXPECT_EQ(wait_finished(dst), "completed");
  ASSERT_EQ(dst.State(), HAL_VM_STATE_RUNNING);
  json guest = dst.Info()["guest"];
  EXPECT_EQ(guest["bootCount"], 1);  // the same boot, no reboot
  EXPECT_GE(guest["heartbeat"].get<int64_t>(), heartbeat);
  EXPECT_EQ(Call(T().vm_force_stop, dst).status, HAL_OK);
}

TEST_F(MockMigrationTls, UnusableTlsFilesFailTheCall) {
  Backend source(json{{"instance", Instance("-tls-bad")}});
  Vm src;
  ASSERT_EQ(Create(source.b, Spec("tlsbad"), src, HAL_CREATE_START).status, HAL_OK);
  fs::remove(dir_.path() / "source" / "client-key.pem");
  Result r = Send(src, {{"uri", "tcp:127.0.0.1:1"}, {"tls", tls("source")}});
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("client-key.pem"));
  r = Send(src, {{"uri", "tcp:127.0.0.1:1"}, {"tls", {{"dir", "relative"}}}});
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("params.tls.dir"));
  EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
}

}  // namespace
}  // namespace hal::mock::test
