// node_service.h - the NodeAgent gRPC service (node.proto) of hal-node: every RPC validates its
// request (INVALID_ARGUMENT naming the field), runs through hal::Backend / hal::Vm, and maps
// HAL errors one-for-one onto gRPC status codes with the backend's message. Lifecycle and info
// RPCs are in node_service.cc, migration in node_service_migration.cc, the event stream in
// node_service_events.cc and the console in console_bridge.cc.
#ifndef HAL_CONTROLLER_NODE_NODE_SERVICE_H
#define HAL_CONTROLLER_NODE_NODE_SERVICE_H

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <vector>

#include "controller/node/event_hub.h"
#include "controller/node/migration_security.h"
#include "controller/node/vm_directory.h"
#include "controller/tls/peer_policy.h"
#include "hal/v1/node.grpc.pb.h"

namespace hal::node {

/** Graceful shutdown timeout used when StopVmRequest.timeout_ms is 0. */
inline constexpr std::chrono::milliseconds kDefaultStopTimeout{30000};

/** What the service works on; everything outlives the service. */
struct ServiceContext {
  VmDirectory *vms = nullptr;                   ///< The node's VMs and backends.
  EventHub *events = nullptr;                   ///< The node's event fan-out.
  std::function<v1::NodeInfo()> node_info;      ///< Builds GetNodeInfo's answer.
  const std::atomic<bool> *stopping = nullptr;  ///< Set when the agent stops (ends streams).
  std::string migration_listen_uri;  ///< Where incoming migrations listen unless told otherwise.
  tls::PeerPolicy peers;             ///< Who may call (on TLS: only the controller).
  std::vector<std::filesystem::path> host_path_roots;  ///< Where spec host paths may point.
  /** Adds migration-params "tls" (null: as MigrationSecurity() — TLS off). */
  MigrationSecurity *migration_security = nullptr;
};

/** The NodeAgent service implementation (synchronous gRPC API). */
class NodeAgentService final : public v1::NodeAgent::Service {
 public:
  /** A service over `context`. */
  explicit NodeAgentService(ServiceContext context) : ctx_(std::move(context)) {}

  grpc::Status GetNodeInfo(grpc::ServerContext *, const v1::GetNodeInfoRequest *,
                           v1::NodeInfo *response) override;
  grpc::Status CreateVm(grpc::ServerContext *, const v1::CreateVmRequest *request,
                        v1::VmStatus *response) override;
  grpc::Status StartVm(grpc::ServerContext *, const v1::VmRef *request,
                       v1::VmStatus *response) override;
  grpc::Status StopVm(grpc::ServerContext *, const v1::StopVmRequest *request,
                      v1::VmStatus *response) override;
  grpc::Status PauseVm(grpc::ServerContext *, const v1::VmRef *request,
                       v1::VmStatus *response) override;
  grpc::Status ResumeVm(grpc::ServerContext *, const v1::VmRef *request,
                        v1::VmStatus *response) override;
  grpc::Status RebootVm(grpc::ServerContext *, const v1::VmRef *request,
                        v1::VmStatus *response) override;
  grpc::Status DeleteVm(grpc::ServerContext *, const v1::DeleteVmRequest *request,
                        v1::DeleteVmResponse *response) override;
  grpc::Status GetVm(grpc::ServerContext *, const v1::VmRef *request,
                     v1::VmStatus *response) override;
  grpc::Status ListVms(grpc::ServerContext *, const v1::ListVmsRequest *,
                       v1::ListVmsResponse *response) override;
  grpc::Status PrepareIncoming(grpc::ServerContext *, const v1::PrepareIncomingRequest *request,
                               v1::PrepareIncomingResponse *response) override;
  grpc::Status SendMigration(grpc::ServerContext *, const v1::SendMigrationRequest *request,
                             v1::VmStatus *response) override;
  grpc::Status GetMigrationProgress(grpc::ServerContext *, const v1::VmRef *request,
                                    v1::MigrationProgress *response) override;
  grpc::Status CancelMigration(grpc::ServerContext *, const v1::CancelMigrationRequest *request,
                               v1::CancelMigrationResponse *response) override;
  grpc::Status WatchEvents(grpc::ServerContext *context, const v1::WatchEventsRequest *request,
                           grpc::ServerWriter<v1::NodeEvent> *writer) override;
  grpc::Status Console(
      grpc::ServerContext *context,
      grpc::ServerReaderWriter<v1::ConsoleChunk, v1::ConsoleChunk> *stream) override;

 private:
  // OK when the caller is the controller (group system:controllers) or the node serves
  // plaintext; else the denial naming the caller and NodeAgent/`rpc`.
  grpc::Status controller_only(const grpc::ServerContext &context, const char *rpc) const;
  // The context's MigrationSecurity, or one with TLS off.
  MigrationSecurity &migration_security();
  // Looks up the VM of `vm_id`, runs `op` on it, and answers its status.
  template <class Op>
  grpc::Status on_vm(std::string_view rpc, const std::string &vm_id, v1::VmStatus *response,
                     Op &&op);
  // The VM's status after an action on it: the backend's events queued by the action are
  // published first, so event_sequence (read before the state) covers them. The action's
  // handler delivers them itself (Backend::DeliveryHere), without the dispatcher's round trip.
  v1::VmStatus status_after_action(const LoadedBackend &backend, const Vm &vm);

  ServiceContext ctx_;
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_NODE_SERVICE_H
