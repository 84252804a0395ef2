// peer_identity.h - who is calling: the user and groups of the verified client certificate of a
// mutual-TLS gRPC call (subject CN and O, read from the certificate gRPC verified), the input of
// every authorization decision (peer_policy.h now, RBAC later).
#ifndef HAL_CONTROLLER_TLS_PEER_IDENTITY_H
#define HAL_CONTROLLER_TLS_PEER_IDENTITY_H

#include <grpcpp/server_context.h>

#include <optional>
#include <string>
#include <vector>

namespace hal::tls {

/** An authenticated caller. */
struct Identity {
  std::string user;                 ///< Certificate subject CN.
  std::vector<std::string> groups;  ///< Certificate subject O values.

  /** True when the caller is in `group`. */
  bool in_group(const std::string &group) const;
  /** "user 'alice' (groups admins, devs)" for messages and logs. */
  std::string describe() const;
};

/** The identity of the peer of `context`'s call; nullopt when the call is not over mutual TLS
 *  (an insecure server) or carries no certificate. */
std::optional<Identity> peer_identity(const grpc::ServerContextBase &context);

/** The identity in a PEM certificate; throws pki::Error when it is not one. */
Identity identity_of_certificate(const std::string &pem);

}  // namespace hal::tls

#endif  // HAL_CONTROLLER_TLS_PEER_IDENTITY_H
