// tls_test.cc - the TLS flag check, the file checks made before serving or dialling (missing
// file, foreign key, expired certificate, wrong CA) and identities read from certificates.
#include <gtest/gtest.h>

#include "controller/pki/pki.h"
#include "controller/tls/credentials.h"
#include "controller/tls/peer_identity.h"
#include "controller/tls/tls_options.h"
#include "testing/temp_dir.h"

namespace hal::tls {
namespace {

using namespace std::chrono_literals;

TEST(TlsOptionsTest, NeitherTlsNorInsecureIsRefused) {
  TlsOptions none;
  auto error = check_tls_options(none, "hal-node");
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("hal-node: no TLS credentials"), std::string::npos) << *error;
  EXPECT_NE(error->find("--insecure"), std::string::npos) << *error;
}

TEST(TlsOptionsTest, InsecureAloneOrAllThreeFilesAreAccepted) {
  TlsOptions insecure;
  insecure.insecure = true;
  EXPECT_FALSE(check_tls_options(insecure, "p"));
  TlsOptions files{"ca.crt", "a.crt", "a.key", false};
  EXPECT_FALSE(check_tls_options(files, "p"));
}

TEST(TlsOptionsTest, PartialOrContradictoryOptionsAreRefused) {
  TlsOptions partial{"ca.crt", "a.crt", "", false};
  auto error = check_tls_options(partial, "p");
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("missing --tls-key"), std::string::npos) << *error;
  TlsOptions both{"ca.crt", "a.crt", "a.key", true};
  EXPECT_TRUE(check_tls_options(both, "p"));
}

class TlsMaterialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = pki::create_ca("ca", 24h);
    write("ca.crt", ca_.certificate_pem);
    pki::KeyAndCertificate other_ca = pki::create_ca("other", 24h);
    write("other-ca.crt", other_ca.certificate_pem);
    save("alice", pki::issue(ca_, pki::user_request("alice", {"admins"})));
    save("mallory", pki::issue(other_ca, pki::user_request("mallory", {})));
    pki::CertificateRequest late = pki::user_request("late", {});
    late.validity = 1h;
    late.backdate = 2h;
    save("late", pki::issue(ca_, late));
  }
  void write(const std::string &name, const std::string &content) {
    pki::write_private_file(dir_.path() / name, content);
  }
  void save(const std::string &name, const pki::KeyAndCertificate &pair) {
    write(name + ".crt", pair.certificate_pem);
    write(name + ".key", pair.key_pem);
  }
  TlsOptions options(const std::string &name, const std::string &key = "") {
    return TlsOptions{(dir_.path() / "ca.crt").string(), (dir_.path() / (name + ".crt")).string(),
                      (dir_.path() / ((key.empty() ? name : key) + ".key")).string(), false};
  }
  std::string error_of(const TlsOptions &options) {
    try {
      load_tls_material(options);
    } catch (const CredentialsError &e) {
      return e.what();
    }
    return "";
  }
  hal::testing::TempDir dir_;
  pki::KeyAndCertificate ca_;
};

TEST_F(TlsMaterialTest, GoodFilesLoad) {
  TlsMaterial material = load_tls_material(options("alice"));
  EXPECT_EQ(material.ca_pem, ca_.certificate_pem);
  EXPECT_NE(server_credentials(options("alice")), nullptr);
  EXPECT_NE(channel_credentials(options("alice")), nullptr);
}

TEST_F(TlsMaterialTest, MissingFileIsNamed) {
  std::string error = error_of(options("nobody"));
  EXPECT_NE(error.find("nobody.crt"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST_F(TlsMaterialTest, ForeignKeyIsNamed) {
  std::string error = error_of(options("alice", "late"));
  EXPECT_NE(error.find("late.key is not the key of certificate"), std::string::npos) << error;
}

TEST_F(TlsMaterialTest, ExpiredCertificateSaysExpired) {
  std::string error = error_of(options("late"));
  EXPECT_NE(error.find("expired at"), std::string::npos) << error;
  EXPECT_NE(error.find("CN=late"), std::string::npos) << error;
}

TEST_F(TlsMaterialTest, CertificateOfAnotherCaIsNotTrusted) {
  std::string error = error_of(options("mallory"));
  EXPECT_NE(error.find("is not trusted by CA"), std::string::npos) << error;
  TlsOptions wrong_ca = options("alice");
  wrong_ca.ca_file = (dir_.path() / "other-ca.crt").string();
  error = error_of(wrong_ca);
  EXPECT_NE(error.find("is not trusted by CA"), std::string::npos) << error;
}

TEST_F(TlsMaterialTest, InsecureOptionsGiveInsecureCredentials) {
  TlsOptions insecure;
  insecure.insecure = true;
  EXPECT_NE(server_credentials(insecure), nullptr);
  EXPECT_NE(channel_credentials(insecure), nullptr);
}

TEST(IdentityTest, FromCertificateSubject) {
  pki::KeyAndCertificate ca = pki::create_ca("ca", 1h);
  Identity node = identity_of_certificate(pki::issue(ca, pki::node_request("n1")).certificate_pem);
  EXPECT_EQ(node.user, "system:node:n1");
  EXPECT_TRUE(node.in_group("system:nodes"));
  EXPECT_FALSE(node.in_group("system:controllers"));
  Identity bob = identity_of_certificate(
      pki::issue(ca, pki::user_request("bob", {"a, b", "c"})).certificate_pem);
  EXPECT_EQ(bob.groups, (std::vector<std::string>{"a, b", "c"}));
  EXPECT_EQ(bob.describe(), "user 'bob' (groups a, b, c)");
}

}  // namespace
}  // namespace hal::tls
