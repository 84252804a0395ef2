// controller_service.h - the Controller gRPC service (controller.proto) over a Controller:
// apply (parse, validate, default, store; dry run), get, list, watch, delete, VM actions,
// migrate, drain and console lookup. Every call is authorized first (api_access.h: RBAC on a TLS
// server) and every change is audited:
//   Apply       create or update (per object, by whether it exists) on its kind's resource
//   Get/List/Watch  get/list/watch on the kind's resource (every kind when none is named)
//   Delete      delete on the kind's resource
//   Start/Stop/Restart  update on virtualmachines/start|stop|restart (subresources.kubevirt.io)
//   Pause/Unpause       update on virtualmachineinstances/pause|unpause
//   Migrate     update on virtualmachines/migrate (or virtualmachineinstances/migrate)
//   Console     get on virtualmachineinstances/console (then relayed to the VM's node,
//               console_relay.h)
//   Drain       update on nodes/drain (hal.dev, cluster-scoped; also cordon and uncordon)
#ifndef HAL_CONTROLLER_SERVER_CONTROLLER_SERVICE_H
#define HAL_CONTROLLER_SERVER_CONTROLLER_SERVICE_H

#include <atomic>

#include "controller/server/api_access.h"
#include "controller/server/console_relay.h"
#include "controller/server/controller.h"
#include "hal/v1/controller.grpc.pb.h"

namespace hal::controller {

/** The Controller service; Console runs on gRPC's callback API, the rest synchronously. */
class ControllerService final
    : public v1::Controller::WithCallbackMethod_Console<v1::Controller::Service> {
 public:
  /** Serves `controller` (which must outlive the service), authorizing and auditing calls
   *  through `access` (default: an insecure server, everything allowed, no audit). */
  explicit ControllerService(Controller &controller, ApiAccess access = ApiAccess());

  /** Ends open Watch streams and console sessions (server shutdown). */
  void shutdown() {
    stopping_ = true;
    console_.shutdown();
  }

  grpc::Status Apply(grpc::ServerContext *, const v1::ApplyRequest *, v1::ApplyResponse *) override;
  grpc::Status Get(grpc::ServerContext *, const v1::ObjectKey *, v1::Object *) override;
  grpc::Status List(grpc::ServerContext *, const v1::ListRequest *, v1::ListResponse *) override;
  grpc::Status Watch(grpc::ServerContext *, const v1::WatchRequest *,
                     grpc::ServerWriter<v1::WatchEvent> *) override;
  grpc::Status Delete(grpc::ServerContext *, const v1::ObjectKey *, v1::DeleteResponse *) override;
  grpc::Status Start(grpc::ServerContext *, const v1::VmActionRequest *, v1::Object *) override;
  grpc::Status Stop(grpc::ServerContext *, const v1::VmActionRequest *, v1::Object *) override;
  grpc::Status Restart(grpc::ServerContext *, const v1::VmActionRequest *, v1::Object *) override;
  grpc::Status Pause(grpc::ServerContext *, const v1::VmActionRequest *, v1::Object *) override;
  grpc::Status Unpause(grpc::ServerContext *, const v1::VmActionRequest *, v1::Object *) override;
  grpc::Status Migrate(grpc::ServerContext *, const v1::MigrateRequest *, v1::Object *) override;
  grpc::Status Drain(grpc::ServerContext *, const v1::DrainRequest *, v1::DrainResponse *) override;
  /** A console session: authorized (api_access.h) from its first message, then relayed to the
   *  VM's node. */
  grpc::ServerBidiReactor<v1::ConsoleInput, v1::ConsoleOutput> *Console(
      grpc::CallbackServerContext *context) override;

 private:
  // Decides a console session from its first message (ConsoleResolver).
  grpc::Status resolve_console(const grpc::CallbackServerContext &context,
                               const v1::ConsoleInput &first, ConsoleTarget &target);

  Controller &controller_;
  ApiAccess access_;
  std::atomic<bool> stopping_{false};
  ConsoleRelay console_;  // Last: its sessions use the members above.
};

/** Fills a wire Object from a stored one. */
void to_wire(const StoredObject &stored, v1::Object *object);

/** Canonical kind for a kind/short/plural name (API kinds, "Event"), or nullopt. */
std::optional<std::string> resolve_kind(const std::string &name);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_CONTROLLER_SERVICE_H
