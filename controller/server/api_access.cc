// api_access.cc - the Controller API's authorization and audit (see api_access.h).
#include "controller/server/api_access.h"

#include "controller/api/rbac_api.h"

namespace hal::controller {

Caller ApiAccess::caller(const grpc::ServerContextBase &context) const {
  if (authorizer_ == nullptr) {
    // Kubernetes' names for a caller nobody authenticated.
    return Caller{tls::Identity{"system:anonymous", {"system:unauthenticated"}}, true, true};
  }
  std::optional<tls::Identity> identity = tls::peer_identity(context);
  if (!identity) return Caller{tls::Identity{"system:anonymous", {}}, false, false};
  const bool admin = identity->in_group(rbac::kAdminsGroup);
  return Caller{std::move(*identity), true, admin};
}

grpc::Status ApiAccess::check(const Caller &caller, const rbac::AccessRequest &request) const {
  if (caller.unrestricted) return grpc::Status::OK;
  if (!caller.authenticated) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the Controller API needs a client certificate of the cluster's CA");
  }
  rbac::Decision decision = authorizer_->authorize(caller.identity, request);
  if (decision.allowed) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, decision.reason);
}

grpc::Status ApiAccess::check_grant(const Caller &caller, const nlohmann::json &object,
                                    const std::vector<nlohmann::json> &manifest) const {
  if (caller.unrestricted) return grpc::Status::OK;
  rbac::Decision decision = authorizer_->authorize_grant(caller.identity, object, manifest);
  if (decision.allowed) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, decision.reason);
}

void ApiAccess::audit(const Caller &caller, const std::string &call,
                      const rbac::AccessRequest &request, const std::string &decision,
                      const grpc::Status &status, bool dry_run) const {
  if (audit_ == nullptr) return;
  AuditRecord record;
  record.user = caller.identity.user;
  record.groups = caller.identity.groups;
  record.call = call;
  record.verb = request.verb;
  record.group = request.group;
  record.resource = request.resource;
  record.ns = request.ns;
  record.name = request.name;
  record.decision = decision;
  record.code = static_cast<int>(status.error_code());
  record.message = status.error_message();
  record.dry_run = dry_run;
  audit_->append(record);
}

rbac::AccessRequest kind_request(const std::string &verb, const std::string &kind,
                                 const std::string &ns, const std::string &name) {
  auto resource = resource_of_kind(kind);
  if (!resource) return rbac::AccessRequest{verb, "", "", ns, name};
  return rbac::AccessRequest{verb, std::string(resource->group), std::string(resource->name),
                             resource->namespaced ? ns : "", name};
}

rbac::AccessRequest subresource_request(const std::string &verb, const std::string &resource,
                                        const std::string &ns, const std::string &name) {
  auto found = find_api_resource(resource);
  const bool namespaced = !found || found->namespaced;
  return rbac::AccessRequest{verb, found ? std::string(found->group) : "", resource,
                             namespaced ? ns : "", name};
}

}  // namespace hal::controller
