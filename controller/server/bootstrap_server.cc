// bootstrap_server.cc - node join by bootstrap token (see bootstrap_server.h).
#include "controller/server/bootstrap_server.h"

#include "controller/pki/bootstrap_token.h"
#include "controller/tls/credentials.h"
#include "core/log/log.h"
#include "hal/v1/bootstrap.grpc.pb.h"

namespace hal::controller {

class BootstrapServer::Service final : public v1::NodeBootstrap::Service {
 public:
  Service(pki::KeyAndCertificate ca, std::chrono::seconds validity)
      : ca_(std::move(ca)), validity_(validity) {}

  grpc::Status Join(grpc::ServerContext *context, const v1::JoinRequest *request,
                    v1::JoinResponse *response) override {
    const std::string &name = request->node_name();
    if (name.empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node_name: required");
    std::string refused = pki::check_bootstrap_token(ca_.key_pem, request->token(), name);
    if (!refused.empty()) {
      hal::log("auth")->warn("denied NodeBootstrap/Join for node '{}' from {}: {}", name,
                             context->peer(), refused);
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "NodeBootstrap/Join for node '" + name + "': " + refused);
    }
    pki::CertificateRequest certificate = pki::node_request(name);
    certificate.dns_names.assign(request->dns_names().begin(), request->dns_names().end());
    certificate.ip_addresses.assign(request->ip_addresses().begin(), request->ip_addresses().end());
    certificate.validity = validity_;
    try {
      response->set_certificate_pem(pki::issue_for_request(ca_, request->csr_pem(), certificate));
    } catch (const pki::Error &e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    hal::log("controller")
        ->info("node {} joined with a bootstrap token from {}", name, context->peer());
    return grpc::Status::OK;
  }

 private:
  pki::KeyAndCertificate ca_;
  std::chrono::seconds validity_;
};

BootstrapServer::BootstrapServer(BootstrapOptions options) : options_(std::move(options)) {
  if (!options_.tls.enabled() || options_.ca_key_file.empty())
    throw std::runtime_error(
        "--bootstrap-listen needs --tls-ca, --tls-cert, --tls-key and "
        "--tls-ca-key (the CA key signs the nodes' certificates)");
  pki::KeyAndCertificate ca;
  try {
    ca.certificate_pem = pki::read_file(options_.tls.ca_file, "CA certificate");
    ca.key_pem = pki::read_file(options_.ca_key_file, "CA key");
    // Signing a throwaway request proves the key is the CA certificate's.
    pki::issue_for_request(ca, pki::make_certificate_request("check").csr_pem,
                           pki::node_request("check"));
  } catch (const pki::Error &e) {
    throw std::runtime_error(std::string("--tls-ca-key: ") + e.what());
  }
  service_ = std::make_unique<Service>(std::move(ca), options_.node_validity);
}

BootstrapServer::~BootstrapServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

void BootstrapServer::start() {
  tls::TlsMaterial material = tls::load_tls_material(options_.tls);
  // Server-only TLS: a joining node has no certificate yet; the token authenticates it.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_root_certs = material.ca_pem;
  ssl.pem_key_cert_pairs.push_back({material.key_pem, material.cert_pem});
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::SslServerCredentials(ssl), &port_);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    throw std::runtime_error("cannot listen on " + options_.listen + " (--bootstrap-listen)");
  }
}

std::string BootstrapServer::address() const {
  auto colon = options_.listen.rfind(':');
  std::string host =
      colon == std::string::npos ? options_.listen : options_.listen.substr(0, colon);
  return host + ":" + std::to_string(port_);
}

}  // namespace hal::controller
