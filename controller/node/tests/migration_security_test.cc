// migration_security_test.cc - what hal-node adds to migration parameters: nothing with TLS off;
// with TLS, "tls" naming an owner-only directory in QEMU's layout built from the node's own files
// (peerSubjects = any node on the target side), a refusal for a backend without
// features.migrationTls unless clear text was allowed, and always a refusal of a caller's "tls".
#include "controller/node/migration_security.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "hal/host.hpp"
#include "testing/temp_dir.h"

namespace hal::node {
namespace {

std::string read_text(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The status of what apply() throws (HAL_OK when it does not throw).
hal_status apply_status(MigrationSecurity &security, nlohmann::json &params,
                        const std::string &backend, bool source, std::string *message = nullptr) {
  try {
    security.apply(params, backend, source);
  } catch (const Error &e) {
    if (message != nullptr) *message = e.what();
    return e.status();
  }
  return HAL_OK;
}

class MigrationSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.path() / "ca.crt") << "CA PEM";
    std::ofstream(dir_.path() / "node.crt") << "NODE CERT PEM";
    std::ofstream(dir_.path() / "node.key") << "NODE KEY PEM";
    tls_.ca_file = (dir_.path() / "ca.crt").string();
    tls_.cert_file = (dir_.path() / "node.crt").string();
    tls_.key_file = (dir_.path() / "node.key").string();
  }

  hal::testing::TempDir dir_{"hal-migsec-"};
  tls::TlsOptions tls_;
};

TEST_F(MigrationSecurityTest, OffLeavesParamsAloneButRefusesACallersTls) {
  MigrationSecurity off;
  nlohmann::json params = {{"uri", "tcp:127.0.0.1:1"}};
  EXPECT_EQ(apply_status(off, params, "mock", true), HAL_OK);
  EXPECT_EQ(params, nlohmann::json({{"uri", "tcp:127.0.0.1:1"}}));
  nlohmann::json chosen = {{"tls", {{"dir", "/etc"}}}};
  std::string message;
  EXPECT_EQ(apply_status(off, chosen, "mock", true, &message), HAL_INVALID_ARGUMENT);
  EXPECT_NE(message.find("params_json.tls"), std::string::npos) << message;
}

TEST_F(MigrationSecurityTest, TlsLaysOutTheNodesFilesForBothSides) {
  const std::filesystem::path out = dir_.path() / "state" / "migration-tls";
  MigrationSecurity security(tls_, out, {"kvm-qemu"}, false);
  ASSERT_TRUE(security.enabled());
  nlohmann::json target = nlohmann::json::object();
  ASSERT_EQ(apply_status(security, target, "kvm-qemu", false), HAL_OK);
  EXPECT_EQ(target["tls"], nlohmann::json({{"dir", out.string()},
                                           {"peerSubjects", {"O=system:nodes,CN=system:node:*"}}}));
  nlohmann::json source = {{"uri", "tcp:10.0.0.2:4444"}};
  ASSERT_EQ(apply_status(security, source, "kvm-qemu", true), HAL_OK);
  EXPECT_EQ(source["tls"], nlohmann::json({{"dir", out.string()}}));  // name = the uri's host

  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(read_text(out / "ca-cert.pem"), "CA PEM");
  for (const char *role : {"server", "client"}) {
    EXPECT_EQ(read_text(out / (std::string(role) + "-cert.pem")), "NODE CERT PEM");
    EXPECT_EQ(read_text(out / (std::string(role) + "-key.pem")), "NODE KEY PEM");
    ASSERT_EQ(::stat((out / (std::string(role) + "-key.pem")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  // A renewed certificate is what the next migration uses.
  std::ofstream(tls_.cert_file) << "RENEWED CERT PEM";
  nlohmann::json again = nlohmann::json::object();
  ASSERT_EQ(apply_status(security, again, "kvm-qemu", true), HAL_OK);
  EXPECT_EQ(read_text(out / "client-cert.pem"), "RENEWED CERT PEM");

  // Unreadable node files: UNAVAILABLE naming the file.
  std::filesystem::remove(tls_.key_file);
  std::string message;
  nlohmann::json broken = nlohmann::json::object();
  EXPECT_EQ(apply_status(security, broken, "kvm-qemu", true, &message), HAL_UNAVAILABLE);
  EXPECT_NE(message.find("node.key"), std::string::npos) << message;
}

TEST_F(MigrationSecurityTest, ABackendWithoutTlsIsRefusedUnlessClearTextWasAllowed) {
  MigrationSecurity strict(tls_, dir_.path() / "m1", {"kvm-qemu"}, false);
  nlohmann::json params = {{"uri", "tcp:127.0.0.1:1"}};
  std::string message;
  EXPECT_EQ(apply_status(strict, params, "mock", true, &message), HAL_FAILED_PRECONDITION);
  EXPECT_NE(message.find("backend mock"), std::string::npos) << message;
  EXPECT_NE(message.find("--allow-insecure-migration"), std::string::npos) << message;
  EXPECT_EQ(apply_status(strict, params, "mock", false), HAL_FAILED_PRECONDITION);
  EXPECT_FALSE(params.contains("tls"));

  MigrationSecurity lenient(tls_, dir_.path() / "m2", {"kvm-qemu"}, true);
  EXPECT_EQ(apply_status(lenient, params, "mock", true), HAL_OK);
  EXPECT_FALSE(params.contains("tls"));  // in clear, as the operator allowed
  EXPECT_EQ(apply_status(lenient, params, "kvm-qemu", true), HAL_OK);
  EXPECT_TRUE(params.contains("tls"));  // a backend that can still always uses TLS
}

}  // namespace
}  // namespace hal::node
