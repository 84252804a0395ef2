// transport_error_test.cc - halctl's explanations of failed TLS connections, from the texts
// gRPC and OpenSSL put in the status message.
#include "controller/halctl/transport_error.h"

#include <gtest/gtest.h>

namespace hal::halctl {
namespace {

Connection tls_connection() {
  Connection c;
  c.server = "127.0.0.1:7440";
  c.tls = {"/pki/ca.crt", "/pki/alice.crt", "/pki/alice.key", false};
  return c;
}

TEST(TransportError, ServerCertificateFromAnotherCa) {
  auto text = explain_transport_error(
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7440: Ssl "
      "handshake failed: SSL_ERROR_SSL: error:0A000086:SSL routines::certificate verify failed",
      tls_connection());
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("not signed by the CA /pki/ca.crt (wrong CA)"), std::string::npos) << *text;
}

TEST(TransportError, ClientCertificateRefusedByTheServer) {
  auto text = explain_transport_error(
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7440: Ssl "
      "handshake failed: SSL_ERROR_SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca",
      tls_connection());
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("does not trust your client certificate /pki/alice.crt"), std::string::npos)
      << *text;
  text = explain_transport_error(
      "...: error:0A000415:SSL routines::sslv3 alert certificate expired", tls_connection());
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("as expired"), std::string::npos) << *text;
}

TEST(TransportError, PlaintextOnEitherSide) {
  Connection insecure = tls_connection();
  insecure.tls = {"", "", "", true};
  auto text = explain_transport_error(
      "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:7440: Socket "
      "closed",
      insecure);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("without TLS (--insecure)"), std::string::npos) << *text;
  text = explain_transport_error(
      "last error: UNKNOWN: ipv4:127.0.0.1:7440: Ssl handshake failed: SSL_ERROR_SSL: "
      "error:0A00010B:SSL routines::wrong version number",
      tls_connection());
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("may not speak TLS"), std::string::npos) << *text;
}

TEST(TransportError, ConnectionClosedAfterTheHandshakeMeansOurCertificateWasRefused) {
  auto text = explain_transport_error(
      "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:7440: Socket "
      "closed",
      tls_connection());
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("did not accept your client certificate /pki/alice.crt"), std::string::npos)
      << *text;
}

TEST(TransportError, OtherFailuresAreNotExplained) {
  EXPECT_FALSE(
      explain_transport_error("failed to connect to all addresses; last error: "
                              "UNAVAILABLE: ipv4:127.0.0.1:1: Connection refused",
                              tls_connection()));
}

}  // namespace
}  // namespace hal::halctl
