// node_credentials.cc - per-node channel credentials whose handshake checks the node's identity
// (see node_credentials.h), on gRPC's TLS credentials with an external certificate verifier.
#include "controller/tls/node_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "controller/pki/pki.h"
#include "controller/tls/credentials.h"
#include "controller/tls/peer_identity.h"
#include "core/log/log.h"

namespace hal::tls {
namespace {

// Accepts the server's certificate (already verified against the CA by gRPC) only when it is
// node `node_name`'s.
class NodeIdentityVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit NodeIdentityVerifier(std::string node_name) : node_name_(std::move(node_name)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest *request,
              std::function<void(grpc::Status)>, grpc::Status *sync_status) override {
    const std::string expected = pki::kNodeUserPrefix + node_name_;
    const grpc::string_ref pem = request->peer_cert();
    try {
      Identity identity = identity_of_certificate(std::string(pem.data(), pem.size()));
      if (identity.user == expected && identity.in_group(pki::kNodesGroup)) {
        *sync_status = grpc::Status::OK;
        return true;
      }
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "the NodeAgent registered for node '" + node_name_ +
                                      "' presented the certificate of " + identity.describe() +
                                      ", not of user '" + expected + "'");
    } catch (const std::exception &e) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "the NodeAgent registered for node '" + node_name_ +
                                      "' presented no readable certificate: " + e.what());
    }
    hal::log("auth")->warn("refused node connection: {}", sync_status->error_message());
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest *) override {}

 private:
  std::string node_name_;
};

}  // namespace

NodeCredentials node_channel_credentials(const TlsOptions &options) {
  if (!options.enabled())
    return [](const std::string &) { return grpc::InsecureChannelCredentials(); };
  TlsMaterial material = load_tls_material(options);
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      material.ca_pem,
      std::vector<grpc::experimental::IdentityKeyCertPair>{{material.key_pem, material.cert_pem}});
  return [provider](const std::string &node_name) {
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_certificate_provider(provider);
    tls.watch_root_certs();
    tls.watch_identity_key_cert_pairs();
    tls.set_verify_server_certs(true);  // The chain, against the cluster CA.
    // The name in the certificate, instead of the address: an address says nothing of who
    // serves there.
    tls.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<NodeIdentityVerifier>(node_name));
    tls.set_check_call_host(false);
    return grpc::experimental::TlsCredentials(tls);
  };
}

}  // namespace hal::tls
