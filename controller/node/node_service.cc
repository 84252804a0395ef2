// node_service.cc - NodeAgent RPCs for node info, VM definition, lifecycle and listing.
#include "controller/node/node_service.h"

#include "controller/node/host_paths.h"
#include "controller/node/wire.h"
#include "controller/pki/pki.h"
#include "core/log/log.h"

namespace hal::node {
namespace {

// True for states in which the VM must be stopped before vm_delete.
bool needs_stop_before_delete(hal_vm_state state) {
  return state == HAL_VM_STATE_STARTING || state == HAL_VM_STATE_RUNNING ||
         state == HAL_VM_STATE_PAUSED || state == HAL_VM_STATE_SHUTTING_DOWN ||
         state == HAL_VM_STATE_INCOMING || state == HAL_VM_STATE_UNKNOWN;
}

}  // namespace

grpc::Status NodeAgentService::controller_only(const grpc::ServerContext &context,
                                               const char *rpc) const {
  return ctx_.peers.require_group(context, pki::kControllersGroup, "the controller",
                                  std::string("NodeAgent/") + rpc);
}

template <class Op>
grpc::Status NodeAgentService::on_vm(std::string_view rpc, const std::string &vm_id,
                                     v1::VmStatus *response, Op &&op) {
  return guarded(rpc, [&] {
    auto [backend, vm] = ctx_.vms->open(vm_id);
    Backend::DeliveryHere events_here(*backend->backend);
    op(vm);
    *response = status_after_action(*backend, vm);
    return grpc::Status::OK;
  });
}

v1::VmStatus NodeAgentService::status_after_action(const LoadedBackend &backend, const Vm &vm) {
  backend.backend->drain_events();
  const uint64_t sequence = ctx_.events->last_sequence();
  v1::VmStatus status = ctx_.vms->status(backend, vm, false);
  status.set_event_sequence(sequence);
  return status;
}

grpc::Status NodeAgentService::GetNodeInfo(grpc::ServerContext *context,
                                           const v1::GetNodeInfoRequest *, v1::NodeInfo *response) {
  if (grpc::Status denied = controller_only(*context, "GetNodeInfo"); !denied.ok()) return denied;
  return guarded("GetNodeInfo", [&] {
    *response = ctx_.node_info();
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::CreateVm(grpc::ServerContext *context,
                                        const v1::CreateVmRequest *request,
                                        v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "CreateVm"); !denied.ok()) return denied;
  return guarded("CreateVm", [&] {
    LoadedBackend &backend = ctx_.vms->backend("backend", request->backend());
    nlohmann::json spec = parse_object_field("spec_json", request->spec_json());
    if (!spec.contains("name") || !spec["name"].is_string() ||
        spec["name"].get<std::string>().empty())
      throw Error(HAL_INVALID_ARGUMENT, "spec_json.name: required non-empty string");
    const std::string id = spec["name"].get<std::string>();
    require_vm_id("spec_json.name", id);
    confine_host_paths(spec, ctx_.host_path_roots, "spec_json");
    if (LoadedBackend *owner = ctx_.vms->owner(id); owner != nullptr && owner != &backend)
      throw Error(HAL_ALREADY_EXISTS,
                  "spec_json.name: VM '" + id + "' already exists on backend " + owner->name);
    Backend::DeliveryHere events_here(*backend.backend);
    Vm vm = backend.backend->create(spec);
    ctx_.vms->remember(vm.id(), backend);
    if (request->start()) vm.start();
    *response = status_after_action(backend, vm);
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::StartVm(grpc::ServerContext *context, const v1::VmRef *request,
                                       v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "StartVm"); !denied.ok()) return denied;
  return on_vm("StartVm", request->vm_id(), response, [](Vm &vm) { vm.start(); });
}

grpc::Status NodeAgentService::StopVm(grpc::ServerContext *context,
                                      const v1::StopVmRequest *request, v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "StopVm"); !denied.ok()) return denied;
  return on_vm("StopVm", request->vm_id(), response, [&](Vm &vm) {
    if (request->force()) {
      vm.force_stop();
      return;
    }
    std::chrono::milliseconds timeout = request->timeout_ms() == 0
                                            ? kDefaultStopTimeout
                                            : std::chrono::milliseconds(request->timeout_ms());
    try {
      vm.shutdown(timeout);  // forces once the timeout passes
    } catch (const Error &e) {
      if (e.status() != HAL_UNSUPPORTED) throw;
      vm.force_stop();  // no ACPI shutdown in this backend: stop it the only way it can
    }
  });
}

grpc::Status NodeAgentService::PauseVm(grpc::ServerContext *context, const v1::VmRef *request,
                                       v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "PauseVm"); !denied.ok()) return denied;
  return on_vm("PauseVm", request->vm_id(), response, [](Vm &vm) { vm.pause(); });
}

grpc::Status NodeAgentService::ResumeVm(grpc::ServerContext *context, const v1::VmRef *request,
                                        v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "ResumeVm"); !denied.ok()) return denied;
  return on_vm("ResumeVm", request->vm_id(), response, [](Vm &vm) { vm.resume(); });
}

grpc::Status NodeAgentService::RebootVm(grpc::ServerContext *context, const v1::VmRef *request,
                                        v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "RebootVm"); !denied.ok()) return denied;
  return on_vm("RebootVm", request->vm_id(), response, [](Vm &vm) { vm.reboot(); });
}

grpc::Status NodeAgentService::DeleteVm(grpc::ServerContext *context,
                                        const v1::DeleteVmRequest *request,
                                        v1::DeleteVmResponse *) {
  if (grpc::Status denied = controller_only(*context, "DeleteVm"); !denied.ok()) return denied;
  return guarded("DeleteVm", [&] {
    auto [backend, vm] = ctx_.vms->open(request->vm_id());
    if (needs_stop_before_delete(vm.state())) vm.force_stop();
    vm.delete_vm(request->delete_storage() ? HAL_DELETE_STORAGE : 0);
    ctx_.vms->forget(vm.id());
    hal::log("node")->info("deleted VM {} on backend {}", vm.id(), backend->name);
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::GetVm(grpc::ServerContext *context, const v1::VmRef *request,
                                     v1::VmStatus *response) {
  if (grpc::Status denied = controller_only(*context, "GetVm"); !denied.ok()) return denied;
  return guarded("GetVm", [&] {
    auto [backend, vm] = ctx_.vms->open(request->vm_id());
    *response = ctx_.vms->status(*backend, vm, true);
    return grpc::Status::OK;
  });
}

grpc::Status NodeAgentService::ListVms(grpc::ServerContext *context, const v1::ListVmsRequest *,
                                       v1::ListVmsResponse *response) {
  if (grpc::Status denied = controller_only(*context, "ListVms"); !denied.ok()) return denied;
  return guarded("ListVms", [&] {
    for (v1::VmStatus &status : ctx_.vms->list()) *response->add_vms() = std::move(status);
    return grpc::Status::OK;
  });
}

}  // namespace hal::node
