// request_authorization.h - the one place the Controller API decides whether a caller may do
// `verb` on `resource` of `namespace/name` (Kubernetes' attributes: verb "get", resource
// "virtualmachineinstances/console", ...). For now it only requires an authenticated caller
// (mutual TLS); RBAC replaces the body of authorize() with its Role/RoleBinding check and
// keeps the signature, so the RPCs calling it need no change.
#ifndef HAL_CONTROLLER_SERVER_REQUEST_AUTHORIZATION_H
#define HAL_CONTROLLER_SERVER_REQUEST_AUTHORIZATION_H

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>

#include "controller/tls/peer_policy.h"

namespace hal::controller {

/** OK when the caller of `context` may do `verb` on `resource` named `ns`/`name`; otherwise
 *  UNAUTHENTICATED or PERMISSION_DENIED with a message naming the caller, the verb, the
 *  resource and the namespace. `peers` says whether the server authenticates (TLS). */
grpc::Status authorize(const tls::PeerPolicy &peers, const grpc::ServerContextBase &context,
                       const std::string &verb, const std::string &resource, const std::string &ns,
                       const std::string &name);

/** "user 'alice' (groups developers)" for logs, or "an unauthenticated caller". */
std::string caller_of(const grpc::ServerContextBase &context);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_REQUEST_AUTHORIZATION_H
