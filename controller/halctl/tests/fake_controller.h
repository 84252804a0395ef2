// fake_controller.h - an in-process Controller service for halctl's tests: objects in memory,
// Apply validated with hal_controller_api, watchable changes, and migrations that progress on a
// thread (and fail when the target node is "broken"); and a console that echoes what it is
// sent, for `halctl console`.
#ifndef HAL_CONTROLLER_HALCTL_TESTS_FAKE_CONTROLLER_H
#define HAL_CONTROLLER_HALCTL_TESTS_FAKE_CONTROLLER_H

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "hal/v1/controller.grpc.pb.h"

namespace hal::halctl::testing {

/** The fake service. */
class FakeController final : public hal::v1::Controller::Service {
 public:
  ~FakeController() override;

  /** Stores `object` directly (as the controller's own writers would), returning its version. */
  int64_t put(const nlohmann::json &object);
  /** The last VM action received ("stop", ...) with its request. */
  std::pair<std::string, hal::v1::VmActionRequest> last_action();
  /** Stops background migrations (before the server shuts down). */
  void stop();

  grpc::Status Apply(grpc::ServerContext *, const hal::v1::ApplyRequest *,
                     hal::v1::ApplyResponse *) override;
  grpc::Status Get(grpc::ServerContext *, const hal::v1::ObjectKey *, hal::v1::Object *) override;
  grpc::Status List(grpc::ServerContext *, const hal::v1::ListRequest *,
                    hal::v1::ListResponse *) override;
  grpc::Status Watch(grpc::ServerContext *, const hal::v1::WatchRequest *,
                     grpc::ServerWriter<hal::v1::WatchEvent> *) override;
  grpc::Status Delete(grpc::ServerContext *, const hal::v1::ObjectKey *,
                      hal::v1::DeleteResponse *) override;
  grpc::Status Start(grpc::ServerContext *, const hal::v1::VmActionRequest *,
                     hal::v1::Object *) override;
  grpc::Status Stop(grpc::ServerContext *, const hal::v1::VmActionRequest *,
                    hal::v1::Object *) override;
  grpc::Status Restart(grpc::ServerContext *, const hal::v1::VmActionRequest *,
                       hal::v1::Object *) override;
  grpc::Status Pause(grpc::ServerContext *, const hal::v1::VmActionRequest *,
                     hal::v1::Object *) override;
  grpc::Status Unpause(grpc::ServerContext *, const hal::v1::VmActionRequest *,
                       hal::v1::Object *) override;
  grpc::Status Migrate(grpc::ServerContext *, const hal::v1::MigrateRequest *,
                       hal::v1::Object *) override;
  grpc::Status Drain(grpc::ServerContext *, const hal::v1::DrainRequest *,
                     hal::v1::DrainResponse *) override;
  /** The console of a stored VirtualMachineInstance, as the relay serves it: attached (an
   *  empty first message), a greeting "console of VM_ID", then "echo: DATA" for each chunk; the
   *  VMI "gone" is not on its node (NOT_FOUND, as the node would answer). */
  grpc::Status Console(
      grpc::ServerContext *,
      grpc::ServerReaderWriter<hal::v1::ConsoleOutput, hal::v1::ConsoleInput> *stream) override;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // kind, namespace, name
  int64_t put_locked(const nlohmann::json &object, const std::string &type);
  hal::v1::Object to_proto(const Key &key) const;
  grpc::Status action(const char *name, const hal::v1::VmActionRequest *request,
                      hal::v1::Object *response);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<Key, std::pair<nlohmann::json, int64_t>> objects_;
  std::vector<hal::v1::WatchEvent> log_;
  int64_t revision_ = 0;
  int migrations_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::pair<std::string, hal::v1::VmActionRequest> last_action_;
};

/** A gRPC server on 127.0.0.1:<free port> running a FakeController. */
class FakeServer {
 public:
  FakeServer();
  ~FakeServer();
  /** "127.0.0.1:PORT". */
  const std::string &address() const { return address_; }
  /** The service. */
  FakeController &service() { return service_; }

 private:
  FakeController service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace hal::halctl::testing

#endif  // HAL_CONTROLLER_HALCTL_TESTS_FAKE_CONTROLLER_H
