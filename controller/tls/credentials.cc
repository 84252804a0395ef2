// credentials.cc - gRPC SSL credentials from checked PEM files (see credentials.h).
#include "controller/tls/credentials.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "controller/pki/certificate.h"
#include "controller/pki/pki.h"

namespace hal::tls {

TlsMaterial load_tls_material(const TlsOptions &options) {
  TlsMaterial material;
  try {
    material.ca_pem = pki::read_file(options.ca_file, "CA certificate");
    material.cert_pem = pki::read_file(options.cert_file, "certificate");
    material.key_pem = pki::read_file(options.key_file, "private key");
    pki::CertificateInfo info = pki::inspect_certificate(material.cert_pem);
    if (!pki::key_matches_certificate(material.key_pem, material.cert_pem))
      throw CredentialsError("private key " + options.key_file + " is not the key of certificate " +
                             options.cert_file);
    pki::Verification verified = pki::verify_certificate(material.cert_pem, material.ca_pem);
    if (verified.expired)
      throw CredentialsError("certificate " + options.cert_file + " (" + info.subject +
                             ") expired at " + pki::format_utc(info.not_after));
    if (verified.not_yet_valid)
      throw CredentialsError("certificate " + options.cert_file + " (" + info.subject +
                             ") is not valid before " + pki::format_utc(info.not_before));
    if (!verified.ok)
      throw CredentialsError("certificate " + options.cert_file + " (" + info.subject +
                             ", issuer " + info.issuer + ") is not trusted by CA " +
                             options.ca_file + ": " + verified.reason);
  } catch (const pki::Error &e) {
    throw CredentialsError(e.what());
  }
  return material;
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsOptions &options) {
  if (!options.enabled()) return grpc::InsecureServerCredentials();
  TlsMaterial material = load_tls_material(options);
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = material.ca_pem;
  ssl.pem_key_cert_pairs.push_back({material.key_pem, material.cert_pem});
  return grpc::SslServerCredentials(ssl);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsOptions &options) {
  if (!options.enabled()) return grpc::InsecureChannelCredentials();
  TlsMaterial material = load_tls_material(options);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = material.ca_pem;
  ssl.pem_private_key = material.key_pem;
  ssl.pem_cert_chain = material.cert_pem;
  return grpc::SslCredentials(ssl);
}

}  // namespace hal::tls
