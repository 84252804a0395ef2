// controller_server.cc - store + controller + gRPC server assembly.
#include "controller/server/controller_server.h"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "controller/server/api_limits.h"
#include "controller/server/heap_release.h"
#include "controller/tls/credentials.h"
#include "controller/tls/node_credentials.h"
#include "core/log/log.h"

namespace hal::controller {

ControllerServer::ControllerServer(ControllerServerOptions options) : options_(std::move(options)) {
  if (options_.test_guest_dir.empty()) {
    if (const char *dir = std::getenv("HAL_TEST_GUEST_DIR")) options_.test_guest_dir = dir;
  }
  // The controller dials nodes with its own certificate and accepts only the node's own
  // certificate there (tls/node_credentials.h); a node's registration must come from that
  // node's certificate (tls/peer_policy.h).
  options_.controller.nodes.node_credentials = tls::node_channel_credentials(options_.tls);
  options_.controller.nodes.peers = tls::PeerPolicy(options_.tls.enabled());
  server_credentials_ = tls::server_credentials(options_.tls);
  store_ = open_store(options_.store, options_.store_options);
  images_ = std::make_unique<ImageCatalog>(options_.images, options_.test_guest_dir);
  controller_ = std::make_unique<Controller>(*store_, *images_, options_.controller);
  if (options_.tls.enabled()) authorizer_ = std::make_unique<rbac::Authorizer>(*store_);
  if (!options_.audit_log.empty()) audit_ = std::make_unique<AuditLog>(options_.audit_log);
  service_ =
      std::make_unique<ControllerService>(*controller_, ApiAccess(authorizer_.get(), audit_.get()));
}

ControllerServer::~ControllerServer() {
  stop();
}

void ControllerServer::start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, server_credentials_, &port_);
  // gRPC sets SO_REUSEPORT by default: a second controller on this port would then start too
  // and take half the connections, each with its own store. One port, one controller.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service_.get());
  builder.RegisterService(&controller_->registry());
  // Larger requests are refused by gRPC before they are read into memory.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<size_t>(max_request_bytes(options_.controller.limits), INT_MAX)));
  // gRPC's default (1–2 pollers) starts and ends a thread for most concurrent calls.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 4);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    throw std::runtime_error("cannot listen on " + options_.listen);
  }
  controller_->start();
  watch_free_heap();  // what large requests freed goes back to the system
  hal::log("controller")
      ->info("hal-controller serving on {} (store {}, {}, audit log {})", address(), options_.store,
             options_.tls.enabled() ? "mutual TLS, RBAC"
                                    : "INSECURE: no TLS, no authentication, no authorization",
             audit_ ? audit_->path() : "none");
}

void ControllerServer::stop() {
  if (server_) {
    service_->shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
  if (controller_) controller_->stop();
}

std::string ControllerServer::address() const {
  auto colon = options_.listen.rfind(':');
  std::string host =
      colon == std::string::npos ? options_.listen : options_.listen.substr(0, colon);
  return host + ":" + std::to_string(port_);
}

}  // namespace hal::controller
