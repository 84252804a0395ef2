// client.h - halctl's gRPC client of the Controller service (controller.proto): one call per
// method, errors turned into ServerError carrying the gRPC status code name.
#ifndef HAL_CONTROLLER_HALCTL_CLIENT_H
#define HAL_CONTROLLER_HALCTL_CLIENT_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hal/v1/controller.grpc.pb.h"

namespace hal::halctl {

/** A failed call: `code` is the gRPC status name ("NOT_FOUND", "INVALID_ARGUMENT", ...). */
class ServerError : public std::runtime_error {
 public:
  /** Builds the error from a code name and the server's message. */
  ServerError(std::string code, const std::string &message)
      : std::runtime_error(message), code_(std::move(code)) {}
  /** The gRPC status code name. */
  const std::string &code() const noexcept { return code_; }

 private:
  std::string code_;
};

/** The gRPC status code name of `code` ("OK", "NOT_FOUND", ...). */
std::string status_code_name(grpc::StatusCode code);

/** A Controller client. Calls throw ServerError. */
class ControllerClient {
 public:
  /** Connects lazily to `address` (host:port) with `credentials` (mutual TLS or plaintext).
   *  `timeout` bounds each unary call. Answers of up to 64 MiB are read. */
  ControllerClient(const std::string &address,
                   std::shared_ptr<grpc::ChannelCredentials> credentials,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /** Controller.Apply. */
  hal::v1::ApplyResponse apply(const std::string &manifest, bool dry_run);
  /** Controller.Get. */
  hal::v1::Object get(const std::string &kind, const std::string &ns, const std::string &name);
  /** Controller.List (empty namespace = all namespaces), every page of it: the objects of all
   *  pages and the first page's resource_version. */
  hal::v1::ListResponse list(const std::string &kind, const std::string &ns);
  /** Controller.Delete. */
  hal::v1::DeleteResponse remove(const std::string &kind, const std::string &ns,
                                 const std::string &name);
  /** Controller.Start/Stop/Restart/Pause/Unpause by action name ("start", ...). */
  hal::v1::Object vm_action(const std::string &action, const hal::v1::VmActionRequest &request);
  /** Controller.Migrate. */
  hal::v1::Object migrate(const std::string &ns, const std::string &name,
                          const std::string &target_node);
  /** Controller.Drain. */
  hal::v1::DrainResponse drain(const hal::v1::DrainRequest &request);
  /** Controller.Console: the stream, opened on `context` (whose deadline the caller sets);
   *  the context and this client must outlive it. */
  std::unique_ptr<grpc::ClientReaderWriter<hal::v1::ConsoleInput, hal::v1::ConsoleOutput>> console(
      grpc::ClientContext &context);
  /** Controller.Watch: calls `on_event` for each event until it returns false, the stream ends
   *  (returns normally) or `deadline` passes (throws ServerError DEADLINE_EXCEEDED). */
  void watch(const hal::v1::WatchRequest &request,
             const std::function<bool(const hal::v1::WatchEvent &)> &on_event,
             std::chrono::system_clock::time_point deadline);

 private:
  std::unique_ptr<grpc::ClientContext> context() const;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hal::v1::Controller::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

}  // namespace hal::halctl

#endif  // HAL_CONTROLLER_HALCTL_CLIENT_H
