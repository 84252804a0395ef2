// bootstrap_token_test.cc - node join tokens: good for their node until they expire, refused
// for another node, after expiry, when altered or minted with another CA's key; a CSR signed as
// the node's certificate keeps the node's own key.
#include "controller/pki/bootstrap_token.h"

#include <gtest/gtest.h>

#include "controller/pki/certificate.h"

namespace hal::pki {
namespace {

using namespace std::chrono_literals;

TEST(BootstrapToken, GoodForItsNodeUntilItExpires) {
  KeyAndCertificate ca = create_ca("ca", 1h);
  const auto now = std::chrono::system_clock::now();
  std::string token = mint_bootstrap_token(ca.key_pem, "n1", now + 10min);
  EXPECT_EQ(check_bootstrap_token(ca.key_pem, token, "n1", now), "");
  EXPECT_NE(check_bootstrap_token(ca.key_pem, token, "n2", now).find("issued for node 'n1'"),
            std::string::npos);
  EXPECT_NE(check_bootstrap_token(ca.key_pem, token, "n1", now + 11min).find("expired at"),
            std::string::npos);
}

TEST(BootstrapToken, AlteredOrForeignTokensAreRefused) {
  KeyAndCertificate ca = create_ca("ca", 1h);
  KeyAndCertificate other = create_ca("other", 1h);
  const auto now = std::chrono::system_clock::now();
  std::string token = mint_bootstrap_token(ca.key_pem, "n1", now + 10min);
  EXPECT_NE(check_bootstrap_token(other.key_pem, token, "n1", now).find("not issued by"),
            std::string::npos);
  // A later expiry with the old signature.
  std::string later = mint_bootstrap_token(ca.key_pem, "n1", now + 100min);
  std::string forged = later.substr(0, later.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_NE(check_bootstrap_token(ca.key_pem, forged, "n1", now).find("not issued by"),
            std::string::npos);
  for (const char *bad : {"", "hal1", "hal1.zz.1.ab", "x.6e31.1.ab", "hal1.6e31.x1.ab"})
    EXPECT_NE(check_bootstrap_token(ca.key_pem, bad, "n1", now).find("malformed"),
              std::string::npos)
        << bad;
}

TEST(BootstrapToken, CsrIsSignedAsTheNodeWithItsOwnKey) {
  KeyAndCertificate ca = create_ca("ca", 1h);
  KeyAndRequest request = make_certificate_request("system:node:n1");
  std::string certificate = issue_for_request(ca, request.csr_pem, node_request("n1"));
  EXPECT_TRUE(key_matches_certificate(request.key_pem, certificate));
  EXPECT_TRUE(verify_certificate(certificate, ca.certificate_pem).ok);
  EXPECT_EQ(inspect_certificate(certificate).common_name, "system:node:n1");
  EXPECT_THROW(issue_for_request(ca, "not a csr", node_request("n1")), Error);
}

}  // namespace
}  // namespace hal::pki
