// node_service_migration.cc - NodeAgent RPCs for live migration: PrepareIncoming (target),
// SendMigration (source), GetMigrationProgress and CancelMigration (either side). Unless the
// caller names a listen uri, the target listens on the agent's own listen host and answers an
// endpoint at its registered host, which a source on another machine can dial. Both sides add
// the node's migration TLS (migration_security.h) before the backend sees the parameters.
#include "controller/node/advertised_address.h"
#include "controller/node/host_paths.h"
#include "controller/node/node_service.h"
#include "controller/node/wire.h"

namespace hal::node {

MigrationSecurity &NodeAgentService::migration_security() {
  static MigrationSecurity off;
  return ctx_.migration_security != nullptr ? *ctx_.migration_security : off;
}

grpc::Status NodeAgentService::PrepareIncoming(grpc::ServerContext *context,
                                               const v1::PrepareIncomingRequest *request,
                                               v1::PrepareIncomingResponse *response) {
  if (grpc::Status denied = controller_only(*context, "PrepareIncoming"); !denied.ok())
    return denied;
  return guarded("PrepareIncoming", [&] {
    LoadedBackend &backend = ctx_.vms->backend("backend", request->backend());
    nlohmann::json spec = parse_object_field("spec_json", request->spec_json());
    nlohmann::json params = parse_object_field("params_json", request->params_json(), true);
    if (!spec.contains("name") || !spec["name"].is_string() ||
        spec["name"].get<std::string>().empty())
      throw Error(HAL_INVALID_ARGUMENT, "spec_json.name: required non-empty string");
    const std::string id = spec["name"].get<std::string>();
    require_vm_id("spec_json.name", id);
    confine_host_paths(spec, ctx_.host_path_roots, "spec_json");
    if (LoadedBackend *owner = ctx_.vms->owner(id); owner != nullptr && owner != &backend)
      throw Error(HAL_ALREADY_EXISTS,
                  "spec_json.name: VM '" + id + "' already exists on backend " + owner->name);
    if (params.is_null()) params = nlohmann::json::object();
    if (!params.contains("uri")) params["uri"] = ctx_.migration_listen_uri;
    migration_security().apply(params, backend.name, false);
    Backend::Incoming incoming = backend.backend->migration_prepare_incoming(spec, params);
    ctx_.vms->remember(incoming.vm.id(), backend);
    if (incoming.endpoint.contains("uri") && incoming.endpoint["uri"].is_string())
      incoming.endpoint["uri"] = dialable_migration_endpoint(
          incoming.endpoint["uri"].get<std::string>(), ctx_.node_info().address());
    response->set_endpoint_json(incoming.endpoint.dump());
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::SendMigration(grpc::ServerContext *context,
                                             const v1::SendMigrationRequest *request,
                                             v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "SendMigration"); !denied.ok()) return denied;
  return guarded("SendMigration", [&] {
    require_vm_id("vm_id", request->vm_id());
    nlohmann::json params = parse_object_field("params_json", request->params_json());
    if (!params.contains("uri") || !params["uri"].is_string() ||
        params["uri"].get<std::string>().empty())
      throw Error(HAL_INVALID_ARGUMENT,
                  "params_json.uri: required (the endpoint PrepareIncoming answered)");
    auto [backend, vm] = ctx_.vms->open(request->vm_id());
    migration_security().apply(params, backend->name, true);
    vm.migration_send(params);
    *response = ctx_.vms->status(*backend, vm, false);
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::GetMigrationProgress(grpc::ServerContext *context,
                                                    const v1::VmRef *request,
                                                    v1::MigrationProgress *response) {
  if (grpc::Status denied = controller_only(*context, "GetMigrationProgress"); !denied.ok())
    return denied;
  return guarded("GetMigrationProgress", [&] {
    auto [backend, vm] = ctx_.vms->open(request->vm_id());
    response->set_vm_id(vm.id());
    response->set_progress_json(vm.migration_progress().dump());
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::CancelMigration(grpc::ServerContext *context,
                                               const v1::CancelMigrationRequest *request,
                                               v1::CancelMigrationResponse *) {
  if (grpc::Status denied = controller_only(*context, "CancelMigration"); !denied.ok())
    return denied;
  return guarded("CancelMigration", [&] {
    auto [backend, vm] = ctx_.vms->open(request->vm_id());
    vm.migration_cancel();
    return grpc::Status::OK;
  });
}

}  // namespace hal::node
