// request_authorization.cc - the Controller API's authorization decision (see
// request_authorization.h): today "any authenticated caller"; RBAC will decide here.
#include "controller/server/request_authorization.h"

#include "controller/tls/peer_identity.h"

namespace hal::controller {

grpc::Status authorize(const tls::PeerPolicy &peers, const grpc::ServerContextBase &context,
                       const std::string &verb, const std::string &resource, const std::string &ns,
                       const std::string &name) {
  // The call as Kubernetes' audit log would name it: "get virtualmachineinstances/console
  // in namespace default (testguest)".
  const std::string call = verb + " " + resource + " in namespace " +
                           (ns.empty() ? "(cluster)" : ns) + " (" + name + ")";
  return peers.require_authenticated(context, call);
}

std::string caller_of(const grpc::ServerContextBase &context) {
  std::optional<tls::Identity> identity = tls::peer_identity(context);
  return identity ? identity->describe() : "an unauthenticated caller";
}

}  // namespace hal::controller
