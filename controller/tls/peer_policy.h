// peer_policy.h - the checks a HAL server makes on its callers before authorization proper
// (RBAC) exists: "any authenticated caller", "a member of this group" and "node NAME itself".
// A server running insecure (no TLS) lets everyone through, as before; a TLS server answers
// UNAUTHENTICATED without a client identity and PERMISSION_DENIED with the wrong one, naming
// the caller and the call.
#ifndef HAL_CONTROLLER_TLS_PEER_POLICY_H
#define HAL_CONTROLLER_TLS_PEER_POLICY_H

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>

namespace hal::tls {

/** A server's caller checks. Copyable; thread-safe. */
class PeerPolicy {
 public:
  /** Checks for a server that serves mutual TLS (`tls`) or plaintext. */
  explicit PeerPolicy(bool tls = false) : tls_(tls) {}

  /** True when the server serves mutual TLS. */
  bool tls() const { return tls_; }

  /** OK when the caller presented a verified certificate (or the server is insecure). */
  grpc::Status require_authenticated(const grpc::ServerContextBase &context,
                                     const std::string &call) const;
  /** OK when the caller is in `group` (or the server is insecure); `who` names the callers
   *  allowed, for the message ("the controller"). */
  grpc::Status require_group(const grpc::ServerContextBase &context, const std::string &group,
                             const std::string &who, const std::string &call) const;
  /** OK when the caller is node `node_name` (CN system:node:NAME in group system:nodes), or the
   *  server is insecure. */
  grpc::Status require_node(const grpc::ServerContextBase &context, const std::string &node_name,
                            const std::string &call) const;

 private:
  bool tls_;
};

}  // namespace hal::tls

#endif  // HAL_CONTROLLER_TLS_PEER_POLICY_H
