// peer_policy.cc - caller checks by certificate identity (see peer_policy.h).
#include "controller/tls/peer_policy.h"

#include "controller/pki/pki.h"
#include "controller/tls/peer_identity.h"
#include "core/log/log.h"

namespace hal::tls {
namespace {

grpc::Status unauthenticated(const std::string &call) {
  hal::log("auth")->warn("denied {}: no verified client certificate", call);
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, call + ": no verified client certificate");
}

grpc::Status denied(const Identity &identity, const std::string &call, const std::string &rule) {
  std::string message = identity.describe() + " may not call " + call + ": " + rule;
  hal::log("auth")->warn("denied {}", message);
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message);
}

}  // namespace

grpc::Status PeerPolicy::require_authenticated(const grpc::ServerContextBase &context,
                                               const std::string &call) const {
  if (!tls_ || peer_identity(context)) return grpc::Status::OK;
  return unauthenticated(call);
}

grpc::Status PeerPolicy::require_group(const grpc::ServerContextBase &context,
                                       const std::string &group, const std::string &who,
                                       const std::string &call) const {
  if (!tls_) return grpc::Status::OK;
  std::optional<Identity> identity = peer_identity(context);
  if (!identity) return unauthenticated(call);
  if (identity->in_group(group)) return grpc::Status::OK;
  return denied(*identity, call, "only " + who + " (group " + group + ") may");
}

grpc::Status PeerPolicy::require_node(const grpc::ServerContextBase &context,
                                      const std::string &node_name, const std::string &call) const {
  if (!tls_) return grpc::Status::OK;
  std::optional<Identity> identity = peer_identity(context);
  if (!identity) return unauthenticated(call);
  const std::string expected = pki::kNodeUserPrefix + node_name;
  if (identity->in_group(pki::kNodesGroup) && identity->user == expected) return grpc::Status::OK;
  return denied(
      *identity, call + " for node '" + node_name + "'",
      "only the node itself (user '" + expected + "', group " + pki::kNodesGroup + ") may");
}

}  // namespace hal::tls
