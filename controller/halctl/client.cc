// client.cc - the Controller gRPC client (see client.h).
#include "controller/halctl/client.h"

namespace hal::halctl {

std::string status_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

namespace {

// The largest answer halctl reads: the largest object any hal-controller ever stored (its
// requests were bounded at 64 MiB before objects were bounded at --max-object-bytes), so that
// reading such an object back, alone in its List page, never fails.
constexpr int kMaxReceiveBytes = 64 * 1024 * 1024;

// Objects per List page (kubectl's --chunk-size default); the controller also bounds a page by
// its bytes.
constexpr int64_t kListPageLimit = 500;

std::shared_ptr<grpc::Channel> make_channel(const std::string &address,
                                            std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  return grpc::CreateCustomChannel(address, std::move(credentials), args);
}

void check(const grpc::Status &status) {
  if (!status.ok())
    throw ServerError(status_code_name(status.error_code()), status.error_message());
}

}  // namespace

ControllerClient::ControllerClient(const std::string &address,
                                   std::shared_ptr<grpc::ChannelCredentials> credentials,
                                   std::chrono::milliseconds timeout)
    : channel_(make_channel(address, std::move(credentials))),
      stub_(hal::v1::Controller::NewStub(channel_)),
      timeout_(timeout) {}

std::unique_ptr<grpc::ClientContext> ControllerClient::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  return ctx;
}

hal::v1::ApplyResponse ControllerClient::apply(const std::string &manifest, bool dry_run) {
  hal::v1::ApplyRequest request;
  request.set_manifest(manifest);
  request.set_dry_run(dry_run);
  hal::v1::ApplyResponse response;
  check(stub_->Apply(context().get(), request, &response));
  return response;
}

hal::v1::Object ControllerClient::get(const std::string &kind, const std::string &ns,
                                      const std::string &name) {
  hal::v1::ObjectKey key;
  key.set_kind(kind);
  key.set_namespace_(ns);
  key.set_name(name);
  hal::v1::Object object;
  check(stub_->Get(context().get(), key, &object));
  return object;
}

hal::v1::ListResponse ControllerClient::list(const std::string &kind, const std::string &ns) {
  hal::v1::ListRequest request;
  request.set_kind(kind);
  request.set_namespace_(ns);
  request.set_limit(kListPageLimit);
  hal::v1::ListResponse all;
  for (bool first = true;; first = false) {
    hal::v1::ListResponse page;
    check(stub_->List(context().get(), request, &page));
    if (first) all.set_resource_version(page.resource_version());
    for (auto &object : *page.mutable_objects()) *all.add_objects() = std::move(object);
    if (page.continue_().empty()) return all;
    request.set_continue_(page.continue_());
  }
}

hal::v1::DeleteResponse ControllerClient::remove(const std::string &kind, const std::string &ns,
                                                 const std::string &name) {
  hal::v1::ObjectKey key;
  key.set_kind(kind);
  key.set_namespace_(ns);
  key.set_name(name);
  hal::v1::DeleteResponse response;
  check(stub_->Delete(context().get(), key, &response));
  return response;
}

hal::v1::Object ControllerClient::vm_action(const std::string &action,
                                            const hal::v1::VmActionRequest &request) {
  hal::v1::Object object;
  auto ctx = context();
  grpc::Status status;
  if (action == "start") {
    status = stub_->Start(ctx.get(), request, &object);
  } else if (action == "stop") {
    status = stub_->Stop(ctx.get(), request, &object);
  } else if (action == "restart") {
    status = stub_->Restart(ctx.get(), request, &object);
  } else if (action == "pause") {
    status = stub_->Pause(ctx.get(), request, &object);
  } else if (action == "unpause") {
    status = stub_->Unpause(ctx.get(), request, &object);
  } else {
    throw std::invalid_argument("unknown action " + action);
  }
  check(status);
  return object;
}

hal::v1::Object ControllerClient::migrate(const std::string &ns, const std::string &name,
                                          const std::string &target_node) {
  hal::v1::MigrateRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  request.set_target_node(target_node);
  hal::v1::Object object;
  check(stub_->Migrate(context().get(), request, &object));
  return object;
}

hal::v1::DrainResponse ControllerClient::drain(const hal::v1::DrainRequest &request) {
  hal::v1::DrainResponse response;
  check(stub_->Drain(context().get(), request, &response));
  return response;
}

std::unique_ptr<grpc::ClientReaderWriter<hal::v1::ConsoleInput, hal::v1::ConsoleOutput>>
ControllerClient::console(grpc::ClientContext &context) {
  return stub_->Console(&context);
}

void ControllerClient::watch(const hal::v1::WatchRequest &request,
                             const std::function<bool(const hal::v1::WatchEvent &)> &on_event,
                             std::chrono::system_clock::time_point deadline) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  auto reader = stub_->Watch(&ctx, request);
  hal::v1::WatchEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      ctx.TryCancel();
      reader->Finish();
      return;
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::CANCELLED) return;
  check(status);
}

}  // namespace hal::halctl
