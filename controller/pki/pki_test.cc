// pki_test.cc - the cluster CA and issued certificates: identities, verification against the
// right and a wrong CA, expiry, key matching and owner-only files.
#include "controller/pki/pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "controller/pki/certificate.h"
#include "testing/temp_dir.h"

namespace hal::pki {
namespace {

using namespace std::chrono_literals;

class PkiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new KeyAndCertificate(create_ca("test-ca", 24h));
    other_ca_ = new KeyAndCertificate(create_ca("other-ca", 24h));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_ca_;
  }
  static KeyAndCertificate *ca_;
  static KeyAndCertificate *other_ca_;
};

KeyAndCertificate *PkiTest::ca_ = nullptr;
KeyAndCertificate *PkiTest::other_ca_ = nullptr;

TEST_F(PkiTest, CaIsSelfSignedCa) {
  CertificateInfo info = inspect_certificate(ca_->certificate_pem);
  EXPECT_EQ(info.common_name, "test-ca");
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.subject, info.issuer);
  EXPECT_TRUE(verify_certificate(ca_->certificate_pem, ca_->certificate_pem).ok);
}

TEST_F(PkiTest, UserCertificateCarriesUserAndGroups) {
  KeyAndCertificate alice = issue(*ca_, user_request("alice", {"admins", "devs"}));
  CertificateInfo info = inspect_certificate(alice.certificate_pem);
  EXPECT_EQ(info.common_name, "alice");
  EXPECT_EQ(info.organizations, (std::vector<std::string>{"admins", "devs"}));
  EXPECT_FALSE(info.is_ca);
  EXPECT_EQ(info.issuer, "CN=test-ca");
  Verification verified = verify_certificate(alice.certificate_pem, ca_->certificate_pem);
  EXPECT_TRUE(verified.ok) << verified.reason;
  EXPECT_TRUE(key_matches_certificate(alice.key_pem, alice.certificate_pem));
}

TEST_F(PkiTest, NodeAndControllerIdentities) {
  CertificateInfo node = inspect_certificate(issue(*ca_, node_request("n1")).certificate_pem);
  EXPECT_EQ(node.common_name, "system:node:n1");
  EXPECT_EQ(node.organizations, std::vector<std::string>{"system:nodes"});
  CertificateInfo controller =
      inspect_certificate(issue(*ca_, controller_request()).certificate_pem);
  EXPECT_EQ(controller.common_name, "system:controller");
  EXPECT_EQ(controller.organizations, std::vector<std::string>{"system:controllers"});
}

TEST_F(PkiTest, SystemUserNamesAreReserved) {
  EXPECT_THROW(user_request("system:node:n1", {"system:nodes"}), Error);
  EXPECT_THROW(user_request("", {}), Error);
  EXPECT_THROW(node_request(""), Error);
}

TEST_F(PkiTest, WrongCaIsRejected) {
  KeyAndCertificate bob = issue(*other_ca_, user_request("bob", {}));
  Verification verified = verify_certificate(bob.certificate_pem, ca_->certificate_pem);
  EXPECT_FALSE(verified.ok);
  EXPECT_FALSE(verified.expired);
  EXPECT_NE(verified.reason.find("local issuer"), std::string::npos) << verified.reason;
}

TEST_F(PkiTest, ExpiredCertificateIsRejectedAsExpired) {
  CertificateRequest request = user_request("late", {});
  request.validity = 1h;
  request.backdate = 65min;
  KeyAndCertificate late = issue(*ca_, request);
  CertificateInfo info = inspect_certificate(late.certificate_pem);
  EXPECT_LT(info.not_after, std::chrono::system_clock::now());
  Verification verified = verify_certificate(late.certificate_pem, ca_->certificate_pem);
  EXPECT_FALSE(verified.ok);
  EXPECT_TRUE(verified.expired);
  EXPECT_NE(verified.reason.find("expired"), std::string::npos) << verified.reason;
  // Valid at a time inside its window.
  EXPECT_TRUE(verify_certificate(late.certificate_pem, ca_->certificate_pem,
                                 std::chrono::system_clock::now() - 30min)
                  .ok);
}

TEST_F(PkiTest, ShortLivedCaIsValidForItsWholeValidity) {
  KeyAndCertificate ca = create_ca("hour-ca", 1h);
  CertificateInfo info = inspect_certificate(ca.certificate_pem);
  EXPECT_GT(info.not_after, std::chrono::system_clock::now() + 59min);
  KeyAndCertificate user = issue(ca, user_request("u", {}));
  EXPECT_TRUE(verify_certificate(user.certificate_pem, ca.certificate_pem).ok);
  // Past the CA's end the CA, not the user's certificate, is what expired.
  Verification later = verify_certificate(user.certificate_pem, ca.certificate_pem,
                                          std::chrono::system_clock::now() + 2h);
  EXPECT_FALSE(later.ok);
  EXPECT_FALSE(later.expired);
  EXPECT_NE(later.reason.find("(the CA certificate)"), std::string::npos) << later.reason;
}

TEST_F(PkiTest, NotYetValidCertificateIsRejected) {
  KeyAndCertificate fresh = issue(*ca_, user_request("fresh", {}));
  Verification verified = verify_certificate(fresh.certificate_pem, ca_->certificate_pem,
                                             std::chrono::system_clock::now() - 1h);
  EXPECT_FALSE(verified.ok);
  EXPECT_TRUE(verified.not_yet_valid);
}

TEST_F(PkiTest, KeyOfAnotherCertificateDoesNotMatch) {
  KeyAndCertificate one = issue(*ca_, user_request("one", {}));
  KeyAndCertificate two = issue(*ca_, user_request("two", {}));
  EXPECT_FALSE(key_matches_certificate(two.key_pem, one.certificate_pem));
}

TEST_F(PkiTest, IssuingWithAMismatchedCaKeyFails) {
  KeyAndCertificate mixed{ca_->certificate_pem, other_ca_->key_pem};
  EXPECT_THROW(issue(mixed, user_request("x", {})), Error);
}

TEST_F(PkiTest, GarbageIsNotACertificate) {
  EXPECT_THROW(inspect_certificate("not a certificate"), Error);
  EXPECT_THROW(verify_certificate(ca_->certificate_pem, "no CA here"), Error);
}

TEST(PrivateFileTest, WrittenOwnerOnlyAndNotOverwrittenWhenAsked) {
  hal::testing::TempDir dir;
  std::filesystem::path file = dir.path() / "secret.key";
  write_private_file(file, "one");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_file(file, "key"), "one");
  EXPECT_THROW(write_private_file(file, "two", false), Error);
  write_private_file(file, "two");
  EXPECT_EQ(read_file(file, "key"), "two");
  EXPECT_THROW(read_file(dir.path() / "missing", "key"), Error);
}

}  // namespace
}  // namespace hal::pki
