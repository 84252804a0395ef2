// bootstrap_server.h - the controller's node join endpoint (bootstrap.proto): a port of its own
// with server-only TLS, where a node that has no certificate yet presents a bootstrap token
// (pki/bootstrap_token.h) and a CSR and gets back its node certificate signed by the cluster CA.
// Only NodeBootstrap is served there; everything else stays behind mutual TLS.
#ifndef HAL_CONTROLLER_SERVER_BOOTSTRAP_SERVER_H
#define HAL_CONTROLLER_SERVER_BOOTSTRAP_SERVER_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "controller/tls/tls_options.h"

namespace hal::controller {

/** What the join endpoint serves with. */
struct BootstrapOptions {
  std::string listen;       ///< host:port (port 0 = pick).
  tls::TlsOptions tls;      ///< The controller's CA, certificate and key (serving identity).
  std::string ca_key_file;  ///< The cluster CA's private key (signs node certificates).
  std::chrono::seconds node_validity{std::chrono::hours(24 * 365)};  ///< Issued certificates.
};

/** A running join endpoint. */
class BootstrapServer {
 public:
  /** Reads and checks the files; throws std::runtime_error naming what is wrong. */
  explicit BootstrapServer(BootstrapOptions options);
  /** Stops serving. */
  ~BootstrapServer();
  BootstrapServer(const BootstrapServer &) = delete;
  BootstrapServer &operator=(const BootstrapServer &) = delete;

  /** Starts serving; throws std::runtime_error when the address cannot be bound. */
  void start();
  /** "host:port" with the bound port (after start()). */
  std::string address() const;

 private:
  class Service;
  BootstrapOptions options_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_BOOTSTRAP_SERVER_H
