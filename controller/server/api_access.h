// api_access.h - the Controller API's gate: who is calling (the verified certificate's identity;
// anyone on an insecure server), whether RBAC lets them (rbac::Authorizer), the PERMISSION_DENIED
// answer naming user, verb, resource and namespace, and the audit line of each mutating call.
#ifndef HAL_CONTROLLER_SERVER_API_ACCESS_H
#define HAL_CONTROLLER_SERVER_API_ACCESS_H

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/rbac/authorizer.h"
#include "controller/server/audit_log.h"

namespace hal::controller {

/** The caller of one API call. */
struct Caller {
  tls::Identity identity;     ///< From the client certificate; system:anonymous when insecure.
  bool authenticated = true;  ///< False on a TLS server when the call carries no certificate.
  bool unrestricted = false;  ///< Insecure server or system:admins: every check passes.
};

/** Authorization and audit for the Controller service. Copyable; what it points to must
 *  outlive it. */
class ApiAccess {
 public:
  /** `authorizer` null: an insecure server, everything allowed; `audit` null: no audit log. */
  ApiAccess(rbac::Authorizer *authorizer = nullptr, AuditLog *audit = nullptr)
      : authorizer_(authorizer), audit_(audit) {}

  /** The caller of `context`'s call. */
  Caller caller(const grpc::ServerContextBase &context) const;

  /** OK when `caller` may make `request`; else UNAUTHENTICATED or PERMISSION_DENIED naming the
   *  user, the verb, the resource and the namespace. */
  grpc::Status check(const Caller &caller, const rbac::AccessRequest &request) const;

  /** The escalation check of writing an RBAC object (rbac::Authorizer::authorize_grant). */
  grpc::Status check_grant(const Caller &caller, const nlohmann::json &object,
                           const std::vector<nlohmann::json> &manifest) const;

  /** Appends the audit line of a call: `decision` "allowed", "denied" or "none". */
  void audit(const Caller &caller, const std::string &call, const rbac::AccessRequest &request,
             const std::string &decision, const grpc::Status &status, bool dry_run = false) const;

 private:
  rbac::Authorizer *authorizer_;
  AuditLog *audit_;
};

/** The request for `verb` on objects of stored kind `kind` ("VirtualMachine" → virtualmachines
 *  in kubevirt.io); namespace "" for cluster-scoped kinds. An unknown kind gives an empty
 *  resource, which no rule allows. */
rbac::AccessRequest kind_request(const std::string &verb, const std::string &kind,
                                 const std::string &ns, const std::string &name);

/** The request for `verb` on subresource `resource` ("virtualmachines/start"). */
rbac::AccessRequest subresource_request(const std::string &verb, const std::string &resource,
                                        const std::string &ns, const std::string &name);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_API_ACCESS_H
