// controller_server.h - a whole hal-controller as a library: opens the store, builds the
// Controller and serves the Controller and NodeRegistry gRPC services on one port. The
// hal-controller program runs one; tests and benchmarks run it in-process.
#ifndef HAL_CONTROLLER_SERVER_CONTROLLER_SERVER_H
#define HAL_CONTROLLER_SERVER_CONTROLLER_SERVER_H

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "controller/rbac/authorizer.h"
#include "controller/server/audit_log.h"
#include "controller/server/controller.h"
#include "controller/server/controller_service.h"
#include "controller/server/image_catalog.h"
#include "controller/store/store.h"
#include "controller/tls/tls_options.h"

namespace hal::controller {

/** Everything a controller process is configured with. */
struct ControllerServerOptions {
  std::string listen = "127.0.0.1:0";  ///< host:port (0 = pick a free port).
  /// "sqlite:PATH", "memory" or "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" (open_store).
  std::string store = "sqlite:./hal-controller.db";
  StoreOptions store_options;       ///< TLS to etcd (--etcd-ca, --etcd-cert, --etcd-key).
  std::vector<std::string> images;  ///< "NAME=DIR" image catalogue entries.
  std::string test_guest_dir;       ///< "hal/test-guest" (default: env).
  ControllerOptions controller;     ///< Reconciler and node timing.
  /// Mutual TLS for the port (Controller API and NodeRegistry) and for the calls to nodes;
  /// default-constructed: plaintext (in-process tests). With TLS the Controller API authorizes
  /// every call by RBAC (rbac/authorizer.h); plaintext lets everyone do everything.
  tls::TlsOptions tls;
  std::string audit_log;  ///< File the mutating API calls are appended to; "" = none.
};

/** A running (after start()) controller. */
class ControllerServer {
 public:
  /** Opens the store (throws StoreError) and the audit log (throws std::runtime_error) and
   *  builds the controller; nothing runs yet. */
  explicit ControllerServer(ControllerServerOptions options);
  /** Stops everything. */
  ~ControllerServer();
  ControllerServer(const ControllerServer &) = delete;
  ControllerServer &operator=(const ControllerServer &) = delete;

  /** Starts the controller and serves gRPC. Throws std::runtime_error if the address cannot be
   *  bound. */
  void start();
  /** Stops serving and the controller; idempotent. */
  void stop();

  /** The bound port (after start()). */
  int port() const { return port_; }
  /** "host:port" with the bound port. */
  std::string address() const;
  /** The controller. */
  Controller &controller() { return *controller_; }
  /** The store. */
  Store &store() { return *store_; }

 private:
  ControllerServerOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ImageCatalog> images_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<rbac::Authorizer> authorizer_;  ///< Null without TLS.
  std::unique_ptr<AuditLog> audit_;               ///< Null without an audit log.
  std::unique_ptr<ControllerService> service_;
  std::shared_ptr<grpc::ServerCredentials> server_credentials_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_CONTROLLER_SERVER_H
